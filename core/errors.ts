import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/**
 * Every failure pgvigil reports carries one of these codes. The CLI maps them to repmgr's exit codes
 * in one place ({@link exitCodeFor}); nothing else decides an exit status.
 */
export type ErrorCode =
  | 'BAD_CONFIG'
  | 'BAD_ARGUMENT'
  | 'BAD_INPUT'
  | 'NO_RESTART'
  | 'LOCAL_COMMAND'
  | 'DB_CONN'
  | 'DB_QUERY'
  | 'PROMOTION_FAIL'
  | 'FAILOVER_FAIL'
  | 'SYS_FAILURE'
  | 'BAD_BASEBACKUP'
  | 'INTERNAL'
  | 'SWITCHOVER_FAIL'
  | 'SWITCHOVER_INCOMPLETE'
  | 'FOLLOW_FAIL'
  | 'REJOIN_FAIL'
  | 'NODE_STATUS'
  | 'PAUSE_FAIL'
  | 'STALE_TERM'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'AWS';

const exitCodes: Record<ErrorCode, ExitCodeValue> = {
  BAD_CONFIG: ExitCode.ERR_BAD_CONFIG,
  BAD_ARGUMENT: ExitCode.ERR_BAD_CONFIG,
  BAD_INPUT: ExitCode.ERR_BAD_CONFIG,
  NO_RESTART: ExitCode.ERR_NO_RESTART,
  LOCAL_COMMAND: ExitCode.ERR_LOCAL_COMMAND,
  DB_CONN: ExitCode.ERR_DB_CONN,
  DB_QUERY: ExitCode.ERR_DB_QUERY,
  PROMOTION_FAIL: ExitCode.ERR_PROMOTION_FAIL,
  FAILOVER_FAIL: ExitCode.ERR_FAILOVER_FAIL,
  SYS_FAILURE: ExitCode.ERR_SYS_FAILURE,
  BAD_BASEBACKUP: ExitCode.ERR_BAD_BASEBACKUP,
  INTERNAL: ExitCode.ERR_INTERNAL,
  SWITCHOVER_FAIL: ExitCode.ERR_SWITCHOVER_FAIL,
  SWITCHOVER_INCOMPLETE: ExitCode.ERR_SWITCHOVER_INCOMPLETE,
  FOLLOW_FAIL: ExitCode.ERR_FOLLOW_FAIL,
  REJOIN_FAIL: ExitCode.ERR_REJOIN_FAIL,
  NODE_STATUS: ExitCode.ERR_NODE_STATUS,
  PAUSE_FAIL: ExitCode.ERR_REPMGRD_PAUSE,
  // An action refused for an outdated term is a bad request from the caller's point of view.
  STALE_TERM: ExitCode.ERR_BAD_CONFIG,
  NOT_FOUND: ExitCode.ERR_BAD_CONFIG,
  CONFLICT: ExitCode.ERR_SYS_FAILURE,
  AWS: ExitCode.ERR_SYS_FAILURE,
};

export interface PgvigilErrorOptions extends ErrorOptions {
  /** Lines printed after the message as repmgr's `DETAIL:`. */
  detail?: string | undefined;
  /** Printed as repmgr's `HINT:`. */
  hint?: string | undefined;
  /** True when trying again later may succeed (throttling, a network blip). */
  retryable?: boolean | undefined;
}

/** The base of every error pgvigil raises on purpose. */
export class PgvigilError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: PgvigilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PgvigilError';
    this.code = code;
    this.detail = options.detail;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
  }
}

/** One problem found in a configuration file: where it is and what was expected. */
export interface ConfigProblem {
  file: string;
  /** 1-based line number, or undefined for a problem of the file as a whole (a missing key). */
  line: number | undefined;
  key: string | undefined;
  message: string;
}

/** A configuration file with one or more problems; all of them are reported at once. */
export class ConfigError extends PgvigilError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super('BAD_CONFIG', problems.map(formatConfigProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatConfigProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return p.key === undefined ? `${where}: ${p.message}` : `${where}: "${p.key}": ${p.message}`;
}

export function exitCodeFor(error: unknown): ExitCodeValue {
  return error instanceof PgvigilError ? exitCodes[error.code] : ExitCode.ERR_INTERNAL;
}
