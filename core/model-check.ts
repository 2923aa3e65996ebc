/**
 * Hand-written validators for the records the agent's daemon reads and writes every second (the
 * cluster record, node records, heartbeats) and for events, without zod.
 *
 * Why: the agent's memory (`npm run bench:agent`). zod's code alone costs the agent ~3 MB of its
 * ~54 MB, used or not, so the agent bundle leaves zod out: there the state store validates with
 * these functions, and core/model.ts's schemas are stand-ins backed by them (agent/build.ts,
 * agent/bundle-model.ts).
 *
 * They are exactly as strict as the zod schemas of core/model.ts and return the same values
 * (unknown keys stripped, defaults applied): test/unit/model-check.test.ts compares them on
 * thousands of generated records and checks that both know the same fields. A change to a schema
 * in core/model.ts must be made here too; that test fails until it is. Errors name the field path
 * the way {@link validate} does ("server.timeline: …").
 */
import { EVENT_NAMES } from './events.js';
import { isLsn } from './lsn.js';
import type { ClusterRecord, ClusterSettings, EventRecord, Heartbeat, NodeRecord, Validated } from './model.js';

type Check<T> = (input: unknown, path: string, errors: string[]) => T;
/** A field that may be missing (zod's `.optional()`): a missing key stays missing. */
type Field<T> = Check<T> & { optional?: true };

function at(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

function fail<T>(errors: string[], path: string, message: string, input: unknown): T {
  errors.push(`${path === '' ? '(root)' : path}: ${message}`);
  return input as T;
}

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  if (typeof input === 'number' && !Number.isFinite(input)) return Number.isNaN(input) ? 'NaN' : 'Infinity';
  return typeof input;
}

/** zod's isObject: what z.object() accepts. */
function isObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

/** zod's isPlainObject: what z.record() accepts. */
function isPlainObject(input: unknown): input is Record<string, unknown> {
  if (!isObject(input)) return false;
  const ctor = (input as { constructor?: unknown }).constructor;
  if (ctor === undefined || typeof ctor !== 'function') return true;
  const proto: unknown = ctor.prototype;
  return isObject(proto) && Object.prototype.hasOwnProperty.call(proto, 'isPrototypeOf');
}

interface NumberRules {
  int?: boolean;
  /** Exclusive lower bound (zod's positive()). */
  gt?: number;
  /** Inclusive bounds (zod's nonnegative(), min(), max()). */
  min?: number;
  max?: number;
}

function num(rules: NumberRules = {}): Check<number> {
  return (input, path, errors) => {
    if (typeof input !== 'number' || !Number.isFinite(input)) return fail(errors, path, `expected a number, got ${describe(input)}`, input);
    if (rules.int && !Number.isInteger(input)) return fail(errors, path, `expected an integer, got ${input}`, input);
    if (rules.int && !Number.isSafeInteger(input)) return fail(errors, path, `${input} is outside the safe integer range`, input);
    if (rules.gt !== undefined && !(input > rules.gt)) return fail(errors, path, `expected a number > ${rules.gt}, got ${input}`, input);
    if (rules.min !== undefined && input < rules.min) return fail(errors, path, `expected a number >= ${rules.min}, got ${input}`, input);
    if (rules.max !== undefined && input > rules.max) return fail(errors, path, `expected a number <= ${rules.max}, got ${input}`, input);
    return input;
  };
}

interface StringRules {
  min?: number;
  max?: number;
  pattern?: [RegExp, string];
  refine?: [(s: string) => boolean, string];
}

function str(rules: StringRules = {}): Check<string> {
  return (input, path, errors) => {
    if (typeof input !== 'string') return fail(errors, path, `expected a string, got ${describe(input)}`, input);
    if (rules.min !== undefined && input.length < rules.min) return fail(errors, path, `expected at least ${rules.min} characters`, input);
    if (rules.max !== undefined && input.length > rules.max) return fail(errors, path, `expected at most ${rules.max} characters`, input);
    if (rules.pattern && !rules.pattern[0].test(input)) return fail(errors, path, rules.pattern[1], input);
    if (rules.refine && !rules.refine[0](input)) return fail(errors, path, rules.refine[1], input);
    return input;
  };
}

const bool: Check<boolean> = (input, path, errors) => (typeof input === 'boolean' ? input : fail(errors, path, `expected a boolean, got ${describe(input)}`, input));

function oneOf<const T extends readonly string[]>(values: T): Check<T[number]> {
  const set = new Set<unknown>(values);
  return (input, path, errors) => (set.has(input) ? (input as T[number]) : fail(errors, path, `expected one of ${values.join('|')}, got ${JSON.stringify(input) ?? describe(input)}`, input));
}

function nullable<T>(check: Check<T>): Check<T | null> {
  return (input, path, errors) => (input === null ? null : check(input, path, errors));
}

function optional<T>(check: Check<T>): Field<T | undefined> {
  return Object.assign((input: unknown, path: string, errors: string[]) => (input === undefined ? undefined : check(input, path, errors)), { optional: true as const });
}

/** zod's `.default(value)`: a missing (undefined) value becomes the default. */
function withDefault<T>(check: Check<T>, fallback: () => T): Check<T> {
  return (input, path, errors) => (input === undefined ? fallback() : check(input, path, errors));
}

function arr<T>(item: Check<T>, max?: number): Check<T[]> {
  return (input, path, errors) => {
    if (!Array.isArray(input)) return fail(errors, path, `expected an array, got ${describe(input)}`, input);
    // An index loop, not map(): a hole in a sparse array is an undefined item, as in zod.
    const out: T[] = [];
    for (let i = 0; i < input.length; i++) out.push(item(input[i], at(path, i), errors));
    if (max !== undefined && input.length > max) return fail(errors, path, `expected at most ${max} items`, input);
    return out;
  };
}

/** z.record(z.string(), z.unknown()): a plain object, copied. */
const anyRecord: Check<Record<string, unknown>> = (input, path, errors) => {
  if (!isPlainObject(input)) return fail(errors, path, `expected an object, got ${describe(input)}`, input);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) if (key !== '__proto__') out[key] = input[key];
  return out;
};

type Shape = Record<string, Field<unknown>>;
type Output<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };

/** z.object(shape): unknown keys are dropped. */
function obj<S extends Shape>(shape: S): Check<Output<S>> & { keys: string[] } {
  const entries = Object.entries(shape);
  const check: Check<Output<S>> = (input, path, errors) => {
    if (!isObject(input)) return fail(errors, path, `expected an object, got ${describe(input)}`, input);
    const out: Record<string, unknown> = {};
    for (const [key, field] of entries) {
      if (field.optional && !(key in input)) continue;
      out[key] = field(input[key], at(path, key), errors);
    }
    return out as Output<S>;
  };
  return Object.assign(check, { keys: entries.map(([k]) => k) });
}

// The building blocks of core/model.ts, rule for rule.
const nodeId = num({ int: true, gt: 0, max: 2_147_483_647 });
const clusterId = str({ pattern: [/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a cluster id is 1-63 letters, digits, "_", "." or "-"'] });
const lsn = str({ refine: [isLsn, 'expected a WAL position such as 0/3000060'] });
const epochMs = num({ int: true, min: 0 });
const term = num({ int: true, min: 0 });

const nodeRecord = obj({
  cluster_id: clusterId,
  node_id: nodeId,
  node_name: str({ min: 1, max: 63, pattern: [/^[\x20-\x7e]+$/, 'node_name is printable ASCII'] }),
  type: oneOf(['primary', 'standby', 'witness'] as const),
  upstream_node_id: nullable(nodeId),
  active: bool,
  location: str({ min: 1, max: 255 }),
  priority: num({ int: true, min: 0, max: 2_147_483_647 }),
  conninfo: str({ max: 4096, refine: [(s) => !/\bpassword\s*=/i.test(s) && !/:\/\/[^@/]*:[^@/]*@/.test(s), 'conninfo must not contain a password'] }),
  repluser: nullable(str({ max: 63 })),
  slot_name: nullable(str({ max: 63 })),
  config_file: nullable(str({ max: 4096 })),
  instance_id: nullable(str({ max: 64 })),
  fenced: withDefault(bool, () => false),
  registered_at: epochMs,
  updated_at: epochMs,
});

const replicationRow = obj({
  application_name: str({ max: 255 }),
  client_addr: nullable(str({ max: 255 })),
  state: str({ max: 32 }),
  sync_state: oneOf(['async', 'potential', 'sync', 'quorum'] as const),
  sent_lsn: nullable(lsn),
  write_lsn: nullable(lsn),
  flush_lsn: nullable(lsn),
  replay_lsn: nullable(lsn),
});

const serverState = obj({
  postmaster_running: bool,
  accepting_connections: bool,
  last_accepting_at: nullable(epochMs),
  down_since: nullable(epochMs),
  in_recovery: nullable(bool),
  system_identifier: nullable(str({ pattern: [/^\d{1,20}$/, 'expected a system identifier (1-20 digits)'] })),
  timeline: nullable(num({ int: true, gt: 0 })),
  current_lsn: nullable(lsn),
  receive_lsn: nullable(lsn),
  replay_lsn: nullable(lsn),
  wal_receiver_status: nullable(str({ max: 32 })),
  wal_receiver_upstream_node_id: nullable(nodeId),
  replication: arr(replicationRow, 1000),
  synchronous_standby_names: nullable(str({ max: 4096 })),
  data_directory_writable: nullable(bool),
  replication_lag_secs: optional(nullable(num({ min: 0 }))),
  fenced: bool,
});

const reachability = obj({
  node_id: nodeId,
  ok: bool,
  checked_at: epochMs,
  last_ok_at: nullable(epochMs),
  failures: num({ int: true, min: 0 }),
});

const heartbeat = obj({
  cluster_id: clusterId,
  node_id: nodeId,
  seq: num({ int: true, min: 0 }),
  sent_at: epochMs,
  agent_version: str({ min: 1, max: 64 }),
  term,
  server: nullable(serverState),
  reachability: arr(reachability, 1000),
});

const lease = obj({
  holder_node_id: nodeId,
  term,
  rvn: str({ min: 1, max: 64 }),
  renewed_at: epochMs,
});

const leaseObservation = obj({
  rvn: str({ min: 1, max: 64 }),
  first_seen_at: epochMs,
});

const operation = obj({
  id: str({ min: 1, max: 64 }),
  kind: oneOf(['failover', 'switchover', 'fence', 'rejoin', 'follow'] as const),
  term,
  candidate_node_id: nullable(nodeId),
  old_primary_node_id: nullable(nodeId),
  step: str({ min: 1, max: 64 }),
  owner: str({ min: 1, max: 128 }),
  deadline: epochMs,
  started_at: epochMs,
  data: withDefault(anyRecord, () => ({})),
});

const clusterSettings = obj({
  failover: withDefault(oneOf(['automatic', 'manual'] as const), () => 'automatic'),
  heartbeat_interval_secs: withDefault(num({ gt: 0, max: 3600 }), () => 5),
  node_timeout_secs: withDefault(num({ gt: 0, max: 36_000 }), () => 15),
  lease_secs: withDefault(num({ gt: 0, max: 3600 }), () => 20),
  clock_skew_margin_ms: withDefault(num({ int: true, min: 0, max: 600_000 }), () => 1000),
  reconnect_attempts: withDefault(num({ int: true, min: 0, max: 1000 }), () => 6),
  reconnect_interval: withDefault(num({ min: 0, max: 3600 }), () => 10),
  maximum_lag_on_failover: withDefault(nullable(num({ int: true, min: 0 })), () => null),
  failover_on_location_loss: withDefault(bool, () => true),
  primary_visibility_consensus: withDefault(bool, () => true),
  auto_rejoin: withDefault(bool, () => false),
  standby_disconnect_on_failover: withDefault(bool, () => false),
  sibling_nodes_disconnect_timeout: withDefault(num({ min: 0 }), () => 30),
  failover_validation_command: withDefault(str({ max: 4096 }), () => ''),
  election_rerun_interval: withDefault(num({ min: 0 }), () => 15),
  promote_check_timeout: withDefault(num({ gt: 0 }), () => 60),
  primary_follow_timeout: withDefault(num({ gt: 0 }), () => 60),
  node_rejoin_timeout: withDefault(num({ gt: 0 }), () => 60),
  fence_mode: withDefault(oneOf(['ssm-then-stop-instance', 'ssm-only', 'none'] as const), () => 'ssm-then-stop-instance'),
  replication_lag_warning: withDefault(num({ min: 0 }), () => 300),
  replication_lag_critical: withDefault(num({ min: 0 }), () => 600),
  event_notifications: withDefault(nullable(arr(str())), () => null),
  vip_allocation_id: withDefault(nullable(str({ max: 64 })), () => null),
  route53_zone_id: withDefault(nullable(str({ max: 64 })), () => null),
  route53_record_name: withDefault(nullable(str({ max: 254 })), () => null),
  route53_ttl: withDefault(num({ int: true, min: 0, max: 86_400 }), () => 5),
  writer_endpoint: withDefault(nullable(str({ max: 261 })), () => null),
  reader_endpoint: withDefault(nullable(str({ max: 261 })), () => null),
});

const clusterRecord = obj({
  cluster_id: clusterId,
  term,
  primary_node_id: nullable(nodeId),
  paused: bool,
  operation: nullable(operation),
  lease: nullable(lease),
  lease_observation: nullable(leaseObservation),
  settings: clusterSettings,
  reported_conditions: optional(arr(str({ max: 256 }), 500)),
  version: num({ int: true, min: 0 }),
  created_at: epochMs,
  updated_at: epochMs,
});

const eventRecord = obj({
  cluster_id: clusterId,
  node_id: num({ int: true, min: 0 }),
  event: oneOf(EVENT_NAMES),
  successful: bool,
  timestamp: epochMs,
  details: str({ max: 8192 }),
  term,
});

function run<T>(check: Check<unknown>, input: unknown): Validated<T> {
  const errors: string[] = [];
  const value = check(input, '', errors);
  return errors.length === 0 ? { ok: true, value: value as T } : { ok: false, errors };
}

/** Same verdict and value as `validate(NodeRecordSchema, input)`. */
export function checkNodeRecord(input: unknown): Validated<NodeRecord> {
  return run(nodeRecord, input);
}

/** Same verdict and value as `validate(HeartbeatSchema, input)`. */
export function checkHeartbeatRecord(input: unknown): Validated<Heartbeat> {
  return run(heartbeat, input);
}

/** Same verdict and value as `validate(ClusterRecordSchema, input)`. */
export function checkClusterRecord(input: unknown): Validated<ClusterRecord> {
  return run(clusterRecord, input);
}

/** Same verdict and value as `validate(EventRecordSchema, input)`. */
export function checkEventRecord(input: unknown): Validated<EventRecord> {
  return run(eventRecord, input);
}

/** Same verdict and value as `validate(ClusterSettingsSchema, input)`. */
export function checkClusterSettings(input: unknown): Validated<ClusterSettings> {
  return run(clusterSettings, input);
}

const objects = {
  NodeRecordSchema: nodeRecord,
  ReplicationRowSchema: replicationRow,
  ServerStateSchema: serverState,
  ReachabilitySchema: reachability,
  HeartbeatSchema: heartbeat,
  LeaseSchema: lease,
  LeaseObservationSchema: leaseObservation,
  OperationSchema: operation,
  ClusterSettingsSchema: clusterSettings,
  ClusterRecordSchema: clusterRecord,
  EventRecordSchema: eventRecord,
};

/** The name of a zod object schema of core/model.ts that has a validator here. */
export type CheckedSchemaName = keyof typeof objects;

/** The validator standing in for each zod object schema, by the schema's name. */
export const SCHEMA_CHECKS = Object.fromEntries(Object.entries(objects).map(([name, check]) => [name, (input: unknown) => run(check, input)])) as Record<
  CheckedSchemaName,
  (input: unknown) => Validated<unknown>
>;

/** The fields each validator knows, by the name of the zod schema it stands in for (for the drift test). */
export const CHECKED_FIELDS = Object.fromEntries(Object.entries(objects).map(([name, check]) => [name, check.keys])) as Record<CheckedSchemaName, string[]>;
