/** repmgr's exit codes (docs/cli.md), kept so that operators' scripts keep working. */
export const ExitCode = {
  SUCCESS: 0,
  ERR_BAD_CONFIG: 1,
  ERR_NO_RESTART: 4,
  ERR_LOCAL_COMMAND: 5,
  ERR_DB_CONN: 6,
  ERR_DB_QUERY: 7,
  ERR_PROMOTION_FAIL: 8,
  ERR_FAILOVER_FAIL: 11,
  ERR_SYS_FAILURE: 13,
  ERR_BAD_BASEBACKUP: 14,
  ERR_INTERNAL: 15,
  ERR_SWITCHOVER_FAIL: 18,
  ERR_SWITCHOVER_INCOMPLETE: 22,
  ERR_FOLLOW_FAIL: 23,
  ERR_REJOIN_FAIL: 24,
  ERR_NODE_STATUS: 25,
  ERR_REPMGRD_PAUSE: 26,
} as const;

export type ExitCodeName = keyof typeof ExitCode;
export type ExitCodeValue = (typeof ExitCode)[ExitCodeName];
