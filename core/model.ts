/**
 * The domain model shared by the agent, the controller, the CLI and the sandbox (SPEC §2, §4).
 *
 * Field names are repmgr's where repmgr has one (`node_id`, `upstream_node_id`, `conninfo` …), so an
 * item in DynamoDB reads like a row of repmgr's tables. Times are milliseconds since the epoch,
 * always *on the clock of the writer* (an agent's send time is the agent's clock). LSNs are text
 * ("0/3000060"). Every record that crosses a process boundary has a zod schema; {@link validate}
 * turns a schema failure into a message that names the field.
 */
import { z } from 'zod';
import { EVENT_NAMES } from './events.js';
import { isLsn } from './lsn.js';

export const NODE_TYPES = ['primary', 'standby', 'witness'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export const nodeId = z.number().int().positive().max(2_147_483_647);
export const clusterId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a cluster id is 1-63 letters, digits, "_", "." or "-"');
export const lsn = z.string().refine(isLsn, 'expected a WAL position such as 0/3000060');
export const epochMs = z.number().int().nonnegative();
const term = z.number().int().nonnegative();

/** What `primary|standby|witness register` writes: repmgr's `nodes` row plus the EC2 instance. */
export const NodeRecordSchema = z.object({
  cluster_id: clusterId,
  node_id: nodeId,
  node_name: z.string().min(1).max(63).regex(/^[\x20-\x7e]+$/, 'node_name is printable ASCII'),
  type: z.enum(NODE_TYPES),
  upstream_node_id: nodeId.nullable(),
  active: z.boolean(),
  location: z.string().min(1).max(255),
  priority: z.number().int().min(0).max(2_147_483_647),
  /** libpq conninfo with any password removed (see core/conninfo). */
  conninfo: z.string().max(4096).refine((s) => !/\bpassword\s*=/i.test(s) && !/:\/\/[^@/]*:[^@/]*@/.test(s), {
    message: 'conninfo must not contain a password',
  }),
  repluser: z.string().max(63).nullable(),
  slot_name: z.string().max(63).nullable(),
  config_file: z.string().max(4096).nullable(),
  instance_id: z.string().max(64).nullable(),
  /** Set on a node the controller fenced; cleared by a successful rejoin. */
  fenced: z.boolean().default(false),
  registered_at: epochMs,
  updated_at: epochMs,
});
export type NodeRecord = z.infer<typeof NodeRecordSchema>;

/** One row of `pg_stat_replication` as the primary's agent saw it. */
export const ReplicationRowSchema = z.object({
  application_name: z.string().max(255),
  client_addr: z.string().max(255).nullable(),
  state: z.string().max(32),
  sync_state: z.enum(['async', 'potential', 'sync', 'quorum']),
  sent_lsn: lsn.nullable(),
  write_lsn: lsn.nullable(),
  flush_lsn: lsn.nullable(),
  replay_lsn: lsn.nullable(),
});
export type ReplicationRow = z.infer<typeof ReplicationRowSchema>;

/** The local PostgreSQL server as the node's own agent sees it. */
export const ServerStateSchema = z.object({
  /** Is a postmaster process running for the data directory (postmaster.pid and a live pid)? */
  postmaster_running: z.boolean(),
  accepting_connections: z.boolean(),
  /** Agent time of the last successful connection to the local server, null if never. */
  last_accepting_at: epochMs.nullable(),
  /** Agent time at which the local server was first seen down in the current outage, else null. */
  down_since: epochMs.nullable(),
  in_recovery: z.boolean().nullable(),
  system_identifier: z.string().regex(/^\d{1,20}$/).nullable(),
  timeline: z.number().int().positive().nullable(),
  current_lsn: lsn.nullable(),
  receive_lsn: lsn.nullable(),
  replay_lsn: lsn.nullable(),
  /** `pg_stat_wal_receiver.status` ("streaming", "stopping" …), null when no receiver runs. */
  wal_receiver_status: z.string().max(32).nullable(),
  /** The node the WAL receiver streams from, when the agent could match its host to a node. */
  wal_receiver_upstream_node_id: nodeId.nullable(),
  replication: z.array(ReplicationRowSchema).max(1000),
  /** The primary's `synchronous_standby_names` (empty = asynchronous replication). */
  synchronous_standby_names: z.string().max(4096).nullable(),
  data_directory_writable: z.boolean().nullable(),
  /**
   * Standby only: replication lag in seconds as repmgr's `node check --replication-lag` measures it
   * (now − pg_last_xact_replay_timestamp() while replay is behind receive, 0 when caught up).
   * Optional: agents that do not report it simply raise no lag alarm.
   */
  replication_lag_secs: z.number().nonnegative().nullable().optional(),
  /** The agent has fenced this server (stopped it and holds it down until rejoin). */
  fenced: z.boolean(),
});
export type ServerState = z.infer<typeof ServerStateSchema>;

/** The result of this node's checks of another node (its upstream, the primary, or a sibling). */
export const ReachabilitySchema = z.object({
  node_id: nodeId,
  ok: z.boolean(),
  /** Agent time of the last check, whatever its result. */
  checked_at: epochMs,
  /** Agent time of the last successful check, null if none since the agent started. */
  last_ok_at: epochMs.nullable(),
  /** Consecutive failed checks (repmgr's reconnect_attempts count against this). */
  failures: z.number().int().nonnegative(),
});
export type Reachability = z.infer<typeof ReachabilitySchema>;

/** The latest state of one node, overwritten by its agent (SPEC §4). */
export const HeartbeatSchema = z.object({
  cluster_id: clusterId,
  node_id: nodeId,
  /** Increases with every heartbeat the agent writes (resets only with the agent's state file). */
  seq: z.number().int().nonnegative(),
  /** Agent clock at the time of writing. */
  sent_at: epochMs,
  agent_version: z.string().min(1).max(64),
  /** The highest cluster term this agent has seen. */
  term: term,
  /** The local server; null on a witness without PostgreSQL. */
  server: ServerStateSchema.nullable(),
  reachability: z.array(ReachabilitySchema).max(1000),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** The primary's lease: the agent writes a new random record version number (RVN) every renewal. */
export const LeaseSchema = z.object({
  holder_node_id: nodeId,
  term: term,
  rvn: z.string().min(1).max(64),
  /** Agent clock when renewed; informative only, never used to judge expiry. */
  renewed_at: epochMs,
});
export type Lease = z.infer<typeof LeaseSchema>;

/**
 * The controller's own observation of the lease: the RVN it saw and when it first saw it, on the
 * controller's clock. Kept in the cluster record because Lambda invocations share no memory.
 */
export const LeaseObservationSchema = z.object({
  rvn: z.string().min(1).max(64),
  first_seen_at: epochMs,
});
export type LeaseObservation = z.infer<typeof LeaseObservationSchema>;

export const OPERATION_KINDS = ['failover', 'switchover', 'fence', 'rejoin', 'follow'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** A saga in flight (SPEC §7): at most one per cluster, owned by one evaluator at a time. */
export const OperationSchema = z.object({
  id: z.string().min(1).max(64),
  kind: z.enum(OPERATION_KINDS),
  /** The term this operation claimed (for failover/switchover: the new term). */
  term: term,
  /** Node being promoted (failover/switchover) or acted on (fence/rejoin/follow). */
  candidate_node_id: nodeId.nullable(),
  old_primary_node_id: nodeId.nullable(),
  /** Name of the next step to run; steps are idempotent, so a resumed saga repeats at most one. */
  step: z.string().min(1).max(64),
  /** Identity of the invocation running it (Lambda request id). */
  owner: z.string().min(1).max(128),
  /** Controller time after which another invocation may take the saga over. */
  deadline: epochMs,
  started_at: epochMs,
  /** Saga-specific data carried between steps (settled LSNs, SSM command ids, options). */
  data: z.record(z.string(), z.unknown()).default({}),
});
export type Operation = z.infer<typeof OperationSchema>;

/**
 * Settings the controller needs for one cluster. They come from the primary's repmgr.conf at
 * `primary register` and live in the cluster record, because the controller reads no files.
 */
export const ClusterSettingsSchema = z.object({
  failover: z.enum(['automatic', 'manual']).default('automatic'),
  heartbeat_interval_secs: z.number().positive().max(3600).default(5),
  /** Seconds without a heartbeat before a node counts as stale; default 3 × heartbeat interval. */
  node_timeout_secs: z.number().positive().max(36_000).default(15),
  lease_secs: z.number().positive().max(3600).default(20),
  clock_skew_margin_ms: z.number().int().nonnegative().max(600_000).default(1000),
  reconnect_attempts: z.number().int().nonnegative().max(1000).default(6),
  reconnect_interval: z.number().nonnegative().max(3600).default(10),
  maximum_lag_on_failover: z.number().int().nonnegative().nullable().default(null),
  failover_on_location_loss: z.boolean().default(true),
  primary_visibility_consensus: z.boolean().default(true),
  auto_rejoin: z.boolean().default(false),
  standby_disconnect_on_failover: z.boolean().default(false),
  sibling_nodes_disconnect_timeout: z.number().nonnegative().default(30),
  failover_validation_command: z.string().max(4096).default(''),
  election_rerun_interval: z.number().nonnegative().default(15),
  promote_check_timeout: z.number().positive().default(60),
  primary_follow_timeout: z.number().positive().default(60),
  node_rejoin_timeout: z.number().positive().default(60),
  fence_mode: z.enum(['ssm-then-stop-instance', 'ssm-only', 'none']).default('ssm-then-stop-instance'),
  replication_lag_warning: z.number().nonnegative().default(300),
  replication_lag_critical: z.number().nonnegative().default(600),
  event_notifications: z.array(z.string()).nullable().default(null),
  vip_allocation_id: z.string().max(64).nullable().default(null),
  /** A Route 53 record that follows the primary (core/routes.ts): zone, name, TTL. */
  route53_zone_id: z.string().max(64).nullable().default(null),
  route53_record_name: z.string().max(254).nullable().default(null),
  route53_ttl: z.number().int().nonnegative().max(86_400).default(5),
  /** Load balancer routes (`host[:port]`), only printed by `cluster uri`. */
  writer_endpoint: z.string().max(261).nullable().default(null),
  reader_endpoint: z.string().max(261).nullable().default(null),
});
export type ClusterSettings = z.infer<typeof ClusterSettingsSchema>;
export const DEFAULT_CLUSTER_SETTINGS: ClusterSettings = ClusterSettingsSchema.parse({});

/** One per cluster: the single writer of intent (term, primary) and the saga in flight. */
export const ClusterRecordSchema = z.object({
  cluster_id: clusterId,
  /** Raised by every failover and switchover; the fencing token carried by every action. */
  term: term,
  primary_node_id: nodeId.nullable(),
  /** Maintenance: the engine reports but does not act. */
  paused: z.boolean(),
  operation: OperationSchema.nullable(),
  lease: LeaseSchema.nullable(),
  lease_observation: LeaseObservationSchema.nullable(),
  settings: ClusterSettingsSchema,
  /**
   * What the controller has already reported as events for conditions that persist (alarms,
   * cancelled rounds, rejected heartbeats), as keys like `alarm:replication_lag_critical:2`. An
   * evaluation records an event only when a key appears, and a "cleared" event when it disappears,
   * so a condition that lasts an hour is one event, not one every few seconds.
   */
  reported_conditions: z.array(z.string().max(256)).max(500).optional(),
  /** Optimistic-lock counter raised by every controller write of this record. */
  version: z.number().int().nonnegative(),
  created_at: epochMs,
  updated_at: epochMs,
});
export type ClusterRecord = z.infer<typeof ClusterRecordSchema>;

/** repmgr's `events` table (SPEC §8). */
export const EventRecordSchema = z.object({
  cluster_id: clusterId,
  node_id: z.number().int().nonnegative(),
  event: z.enum(EVENT_NAMES),
  successful: z.boolean(),
  timestamp: epochMs,
  details: z.string().max(8192),
  term: term,
});
export type EventRecord = z.infer<typeof EventRecordSchema>;

/** repmgr's `monitoring_history` columns (written when `monitoring_history=true`). */
export const MonitoringSampleSchema = z.object({
  cluster_id: clusterId,
  primary_node_id: nodeId,
  standby_node_id: nodeId,
  last_monitor_time: epochMs,
  last_apply_time: epochMs.nullable(),
  last_wal_primary_location: lsn.nullable(),
  last_wal_standby_location: lsn.nullable(),
  replication_lag: z.number().int().nullable(),
  apply_lag: z.number().int().nullable(),
});
export type MonitoringSample = z.infer<typeof MonitoringSampleSchema>;

/**
 * Everything the decision engine needs about one cluster: one strongly consistent read.
 * Heartbeats that failed validation are not here; the store reports them separately.
 */
export const ClusterSnapshotSchema = z.object({
  cluster: ClusterRecordSchema,
  nodes: z.array(NodeRecordSchema),
  heartbeats: z.array(HeartbeatSchema),
});
export type ClusterSnapshot = z.infer<typeof ClusterSnapshotSchema>;

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Validates without throwing; each error names the field path ("server.timeline: …"). */
export function validate<T>(schema: z.ZodType<T>, input: unknown): Validated<T> {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, errors: result.error.issues.map(describeIssue) };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  return `${path}: ${issue.message}`;
}
