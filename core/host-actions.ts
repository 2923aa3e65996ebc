/**
 * The host actions the controller asks agents to carry out (through SSM Run Command). A module of
 * its own, with no import, because the SSM documents (infra/ssm-documents.ts) are part of the
 * public surface of `pgvigil/infra`: its declarations must not reach the model's schemas.
 */
export type HostActionName =
  | 'promote'
  | 'follow'
  | 'rejoin'
  | 'fence'
  | 'demote'
  | 'disconnect-wal-receiver'
  | 'reconnect-wal-receiver'
  | 'node-check'
  | 'unfence-primary'
  | 'node-service';

/** repmgr's `node service --action`: what to do with the local PostgreSQL server. */
export const SERVICE_ACTIONS = ['reload', 'restart', 'stop', 'start'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export interface HostAction {
  action: HostActionName;
  clusterId: string;
  nodeId: number;
  term: number;
  /** For follow/rejoin: the node to stream from. */
  upstreamNodeId?: number;
  forceRewind?: boolean;
  /** For node-service: what to do with the server. */
  serviceAction?: ServiceAction;
  /** For node-service: CHECKPOINT before a stop or restart. */
  checkpoint?: boolean;
  /** For node-service: stop or restart even the primary (automatic failover is paused meanwhile). */
  force?: boolean;
  /** The agent's repmgr.conf on that host (the node record's `config_file`); the document's default when absent. */
  configFile?: string;
}

/**
 * What the agent's `promote` says, on a line of its own, when it refused before it asked PostgreSQL
 * to promote (a fence marker, the final LSN not received, the failsafe hold, a stale term …). Only
 * then may a controller treat the promote as never having happened: a promote that failed after
 * `pg_promote()` was called may still complete (docs/controller.md, "Switchover").
 */
export const PROMOTE_NOT_STARTED = 'the promotion was not started: nothing was changed';

/** True when a promote command's output says it refused before promoting anything. */
export function promoteNotStarted(output: string): boolean {
  return output.includes(PROMOTE_NOT_STARTED);
}
