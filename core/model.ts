/**
 * The domain model shared by the agent, the controller, the CLI and the sandbox.
 *
 * Field names are repmgr's where repmgr has one (`node_id`, `upstream_node_id`, `conninfo` …), so an
 * item in DynamoDB reads like a row of repmgr's tables. Times are milliseconds since the epoch,
 * always *on the clock of the writer* (an agent's send time is the agent's clock). LSNs are text
 * ("0/3000060").
 *
 * Each record is defined once, here, with core/schema.ts's combinators: its type ({@link Infer}),
 * its validator and its defaults come from that definition (the cluster settings' from the key
 * table, core/config/settings.ts). Validation is strict — an unknown key or an oversized value is
 * an error naming the field — except when the state store reads back what was stored, which drops
 * unknown keys (docs/architecture.md, "Validation").
 */
import { CLUSTER_ID_PATTERN, PRINTABLE_ASCII } from './config/keys.js';
import { ClusterSettingsSchema, type ClusterSettings } from './config/settings.js';
import { EVENT_NAMES } from './events.js';
import { LSN_PATTERN } from './lsn.js';
import {
  array,
  boolean,
  integer,
  json,
  nullable,
  number,
  object,
  oneOf,
  optional,
  string,
  withDefault,
  type Infer,
  type Schema,
  type Validated,
} from './schema.js';

export { ClusterSettingsSchema, type ClusterSettings } from './config/settings.js';
export type { Infer, Validated } from './schema.js';

export const NODE_TYPES = ['primary', 'standby', 'witness'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

const INT_MAX = 2_147_483_647;
/** Most nodes (and heartbeats) one cluster snapshot may hold. */
export const MAX_NODES = 1000;

export const nodeId = number({ int: true, gt: 0, max: INT_MAX });
export const clusterId = string({ max: 63, pattern: CLUSTER_ID_PATTERN, message: 'a cluster id is 1-63 letters, digits, "_", "." or "-"' });
export const lsn = string({ max: 17, pattern: LSN_PATTERN, message: 'expected a WAL position such as 0/3000060' });
export const epochMs = integer(0);
const term = integer(0);

/** What `primary|standby|witness register` writes: repmgr's `nodes` row plus the EC2 instance. */
export const NodeRecordSchema = object('node record', {
  cluster_id: clusterId,
  node_id: nodeId,
  node_name: string({ min: 1, max: 63, pattern: PRINTABLE_ASCII, message: 'node_name is printable ASCII' }),
  type: oneOf(NODE_TYPES),
  upstream_node_id: nullable(nodeId),
  active: boolean,
  location: string({ min: 1, max: 255 }),
  priority: integer(0, INT_MAX),
  /** libpq conninfo with any password removed (see core/conninfo). */
  conninfo: string({
    max: 4096,
    refine: (s) => (/\bpassword\s*=/i.test(s) || /:\/\/[^@/]*:[^@/]*@/.test(s) ? 'conninfo must not contain a password' : undefined),
  }),
  repluser: nullable(string({ max: 63 })),
  slot_name: nullable(string({ max: 63 })),
  config_file: nullable(string({ max: 4096 })),
  instance_id: nullable(string({ max: 64 })),
  /** Set on a node the controller fenced; cleared by a successful rejoin. */
  fenced: withDefault(boolean, () => false),
  /**
   * When a fence stopped the node's EC2 instance (StopInstances), controller time; cleared when the
   * controller starts it again for auto_rejoin, or the node rejoins.
   */
  instance_stopped_at: withDefault(nullable(epochMs), () => null),
  registered_at: epochMs,
  updated_at: epochMs,
});
export type NodeRecord = Infer<typeof NodeRecordSchema>;

/** One row of `pg_stat_replication` as the primary's agent saw it. */
export const ReplicationRowSchema = object('replication row', {
  application_name: string({ max: 255 }),
  client_addr: nullable(string({ max: 255 })),
  state: string({ max: 32 }),
  sync_state: oneOf(['async', 'potential', 'sync', 'quorum'] as const),
  sent_lsn: nullable(lsn),
  write_lsn: nullable(lsn),
  flush_lsn: nullable(lsn),
  replay_lsn: nullable(lsn),
});
export type ReplicationRow = Infer<typeof ReplicationRowSchema>;

/** The local PostgreSQL server as the node's own agent sees it. */
export const ServerStateSchema = object('server state', {
  /** Is a postmaster process running for the data directory (postmaster.pid and a live pid)? */
  postmaster_running: boolean,
  accepting_connections: boolean,
  /** Agent time of the last successful connection to the local server, null if never. */
  last_accepting_at: nullable(epochMs),
  /** Agent time at which the local server was first seen down in the current outage, else null. */
  down_since: nullable(epochMs),
  in_recovery: nullable(boolean),
  system_identifier: nullable(string({ max: 20, pattern: /^\d{1,20}$/, message: 'expected a system identifier (1-20 digits)' })),
  timeline: nullable(number({ int: true, gt: 0 })),
  current_lsn: nullable(lsn),
  receive_lsn: nullable(lsn),
  replay_lsn: nullable(lsn),
  /** `pg_stat_wal_receiver.status` ("streaming", "stopping" …), null when no receiver runs. */
  wal_receiver_status: nullable(string({ max: 32 })),
  /** The node the WAL receiver streams from, when the agent could match its host to a node. */
  wal_receiver_upstream_node_id: nullable(nodeId),
  /**
   * Agent time since which this running standby has not been streaming (its WAL receiver absent or
   * in another state), null while it streams or when it is not a standby that answers. Optional:
   * agents that do not report it are never judged stranded (docs/decision-engine.md).
   */
  not_streaming_since: optional(nullable(epochMs)),
  /**
   * Agent time since which this standby's WAL receiver has reported "streaming" without a break,
   * null otherwise. A receiver that connects and drops again (an upstream whose timeline forked
   * before this standby's position) shows "streaming" for moments; `not_streaming_since` is
   * cleared only once streaming has lasted (agent/daemon/policy.ts). Optional, for older agents.
   */
  streaming_since: optional(nullable(epochMs)),
  replication: array(ReplicationRowSchema, 1000),
  /** The primary's `synchronous_standby_names` (empty = asynchronous replication). */
  synchronous_standby_names: nullable(string({ max: 4096 })),
  data_directory_writable: nullable(boolean),
  /**
   * Standby only: replication lag in seconds as repmgr's `node check --replication-lag` measures it
   * (now − pg_last_xact_replay_timestamp() while replay is behind receive, 0 when caught up).
   * Optional: agents that do not report it simply raise no lag alarm.
   */
  replication_lag_secs: optional(nullable(number({ min: 0 }))),
  /**
   * Settings changed but waiting for a restart (`pg_settings.pending_restart`), by name; `cluster
   * show` marks the node. Optional: agents that do not report it mark nothing.
   */
  pending_restart: optional(array(string({ max: 128 }), 400)),
  /** The agent has fenced this server (stopped it and holds it down until rejoin). */
  fenced: boolean,
});
export type ServerState = Infer<typeof ServerStateSchema>;

/** The result of this node's checks of another node (its upstream, the primary, or a sibling). */
export const ReachabilitySchema = object('reachability', {
  node_id: nodeId,
  ok: boolean,
  /** Agent time of the last check, whatever its result. */
  checked_at: epochMs,
  /** Agent time of the last successful check, null if none since the agent started. */
  last_ok_at: nullable(epochMs),
  /** Consecutive failed checks (repmgr's reconnect_attempts count against this). */
  failures: integer(0),
});
export type Reachability = Infer<typeof ReachabilitySchema>;

/** The latest state of one node, overwritten by its agent. */
export const HeartbeatSchema = object('heartbeat', {
  cluster_id: clusterId,
  node_id: nodeId,
  /** Increases with every heartbeat the agent writes (resets only with the agent's state file). */
  seq: integer(0),
  /** Agent clock at the time of writing. */
  sent_at: epochMs,
  agent_version: string({ min: 1, max: 64 }),
  /** The highest cluster term this agent has seen. */
  term,
  /** The local server; null on a witness without PostgreSQL. */
  server: nullable(ServerStateSchema),
  reachability: array(ReachabilitySchema, 1000),
});
export type Heartbeat = Infer<typeof HeartbeatSchema>;

/** The primary's lease: the agent writes a new random record version number (RVN) every renewal. */
export const LeaseSchema = object('lease', {
  holder_node_id: nodeId,
  term,
  rvn: string({ min: 1, max: 64 }),
  /** Agent clock when renewed; informative only, never used to judge expiry. */
  renewed_at: epochMs,
});
export type Lease = Infer<typeof LeaseSchema>;

/**
 * The controller's own observation of the lease: the RVN it saw and when it first saw it, on the
 * controller's clock. Kept in the cluster record because Lambda invocations share no memory.
 */
export const LeaseObservationSchema = object('lease observation', {
  rvn: string({ min: 1, max: 64 }),
  first_seen_at: epochMs,
});
export type LeaseObservation = Infer<typeof LeaseObservationSchema>;

/**
 * `restart`: the term's primary restarted in place (a new term, no promotion) when it failed and no
 * standby can be promoted — see docs/controller.md, "Stuck states".
 */
export const OPERATION_KINDS = ['failover', 'switchover', 'fence', 'rejoin', 'follow', 'restart'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** A saga in flight: at most one per cluster, owned by one evaluator at a time. */
export const OperationSchema = object('operation', {
  id: string({ min: 1, max: 64 }),
  kind: oneOf(OPERATION_KINDS),
  /** The term this operation claimed (for failover/switchover: the new term). */
  term,
  /** Node being promoted (failover/switchover) or acted on (fence/rejoin/follow). */
  candidate_node_id: nullable(nodeId),
  old_primary_node_id: nullable(nodeId),
  /** Name of the next step to run; steps are idempotent, so a resumed saga repeats at most one. */
  step: string({ min: 1, max: 64 }),
  /** Identity of the invocation running it (Lambda request id). */
  owner: string({ min: 1, max: 128 }),
  /** Controller time after which another invocation may take the saga over. */
  deadline: epochMs,
  started_at: epochMs,
  /**
   * Saga-specific data carried between steps (settled LSNs, SSM command ids, options, abort
   * reasons quoting up to three lines of SSM output). Bounded well above what sagas write and with
   * the rest of the record under DynamoDB's 400 KB item limit.
   */
  data: withDefault(json(131_072), () => ({})),
});
export type Operation = Infer<typeof OperationSchema>;

export const DEFAULT_CLUSTER_SETTINGS: ClusterSettings = ClusterSettingsSchema.parse({});

/** `standby switchover --scheduled TIME`: the switchover the controller starts at `at` (docs/operations.md). */
export const ScheduledSwitchoverSchema = object('scheduled switchover', {
  at: epochMs,
  candidate_node_id: nodeId,
  siblings_follow: boolean,
  /** Who asked (the operator's user and host), for `cluster show` and the events. */
  requested_by: string({ min: 1, max: 256 }),
  requested_at: epochMs,
});
export type ScheduledSwitchover = Infer<typeof ScheduledSwitchoverSchema>;

/** One per cluster: the single writer of intent (term, primary) and the saga in flight. */
export const ClusterRecordSchema = object('cluster record', {
  cluster_id: clusterId,
  /** Raised by every failover and switchover; the fencing token carried by every action. */
  term,
  primary_node_id: nullable(nodeId),
  /** Maintenance: the engine reports but does not act. */
  paused: boolean,
  /**
   * The operation that set `paused` (a switchover pauses automatic failover while it runs); null
   * or absent when an operator paused the cluster. A pause whose operation is gone is lifted by the
   * controller.
   */
  paused_by: optional(nullable(string({ min: 1, max: 64 }))),
  operation: nullable(OperationSchema),
  lease: nullable(LeaseSchema),
  lease_observation: nullable(LeaseObservationSchema),
  settings: ClusterSettingsSchema,
  /**
   * What the controller has already reported as events for conditions that persist (alarms,
   * cancelled rounds, rejected heartbeats), as keys like `alarm:replication_lag_critical:2`. An
   * evaluation records an event only when a key appears, and a "cleared" event when it disappears,
   * so a condition that lasts an hour is one event, not one every few seconds.
   */
  reported_conditions: optional(array(string({ max: 256 }), 500)),
  /** A switchover scheduled for later, or null/absent when none. */
  scheduled_switchover: optional(nullable(ScheduledSwitchoverSchema)),
  /** Optimistic-lock counter raised by every controller write of this record. */
  version: integer(0),
  created_at: epochMs,
  updated_at: epochMs,
});
export type ClusterRecord = Infer<typeof ClusterRecordSchema>;

/** repmgr's `events` table (docs/cli.md, "cluster event"). */
export const EventRecordSchema = object('event', {
  cluster_id: clusterId,
  node_id: integer(0),
  event: oneOf(EVENT_NAMES),
  successful: boolean,
  timestamp: epochMs,
  details: string({ max: 8192 }),
  term,
  /**
   * Structured facts of the event, where it has some (repmgr's event_info): e.g. the former primary
   * of a promotion (`former_primary_node_id`, the command's `%p`) or a failover's data-loss record.
   */
  info: optional(json(4096)),
});
export type EventRecord = Infer<typeof EventRecordSchema>;

/** repmgr's `monitoring_history` columns (written when `monitoring_history=true`). */
export const MonitoringSampleSchema = object('monitoring sample', {
  cluster_id: clusterId,
  primary_node_id: nodeId,
  standby_node_id: nodeId,
  last_monitor_time: epochMs,
  last_apply_time: nullable(epochMs),
  last_wal_primary_location: nullable(lsn),
  last_wal_standby_location: nullable(lsn),
  replication_lag: nullable(integer(Number.MIN_SAFE_INTEGER)),
  apply_lag: nullable(integer(Number.MIN_SAFE_INTEGER)),
});
export type MonitoringSample = Infer<typeof MonitoringSampleSchema>;

/**
 * Everything the decision engine needs about one cluster: one strongly consistent read.
 * Heartbeats that failed validation are not here; the store reports them separately.
 */
export const ClusterSnapshotSchema = object('cluster snapshot', {
  cluster: ClusterRecordSchema,
  nodes: array(NodeRecordSchema, MAX_NODES),
  heartbeats: array(HeartbeatSchema, MAX_NODES),
});
export type ClusterSnapshot = Infer<typeof ClusterSnapshotSchema>;

/** Validates without throwing; each error names the field path ("server.timeline: …"). */
export function validate<T>(schema: Schema<T>, input: unknown): Validated<T> {
  return schema.check(input);
}
