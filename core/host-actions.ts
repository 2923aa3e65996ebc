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
  | 'unfence-primary';

export interface HostAction {
  action: HostActionName;
  clusterId: string;
  nodeId: number;
  term: number;
  /** For follow/rejoin: the node to stream from. */
  upstreamNodeId?: number;
  forceRewind?: boolean;
  /** The agent's repmgr.conf on that host (the node record's `config_file`); the document's default when absent. */
  configFile?: string;
}
