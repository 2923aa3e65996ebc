/**
 * Every configuration key pgvigil reads: repmgr's keys that keep their meaning, and pgvigil's own.
 * One table drives the parser, `pgvigil config check`, docs/configuration.md and the cluster
 * settings the controller reads (core/config/settings.ts), so they cannot disagree.
 *
 * Keys are repmgr's snake_case names everywhere; there is no camelCase mapping.
 */
import { parseConninfo } from '../conninfo.js';
import { PgvigilError } from '../errors.js';
import { isDnsName, parseHostPort } from '../routes.js';

export const CONNECTION_CHECK_TYPES = ['ping', 'connection', 'query'] as const;
export const FAILOVER_MODES = ['automatic', 'manual'] as const;
export const FENCE_MODES = ['ssm-then-stop-instance', 'ssm-only', 'none'] as const;
/** repmgr's log levels (syslog's names). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'ALERT', 'CRIT', 'EMERG'] as const;

/** The effective configuration: every key, defaults applied. Strings are `''` when unset. */
export interface PgvigilConfig {
  // --- repmgr keys -------------------------------------------------------------------------
  node_id: number;
  node_name: string;
  /** libpq conninfo as written; may hold a password, so print it only through stripPassword. */
  conninfo: string;
  data_directory: string;
  location: string;
  priority: number;
  replication_user: string;
  pg_bindir: string;
  use_replication_slots: boolean;
  failover: (typeof FAILOVER_MODES)[number];
  monitor_interval_secs: number;
  reconnect_attempts: number;
  reconnect_interval: number;
  connection_check_type: (typeof CONNECTION_CHECK_TYPES)[number];
  connection_check_query: string;
  primary_visibility_consensus: boolean;
  standby_disconnect_on_failover: boolean;
  sibling_nodes_disconnect_timeout: number;
  failover_validation_command: string;
  promote_check_timeout: number;
  promote_check_interval: number;
  primary_follow_timeout: number;
  standby_reconnect_timeout: number;
  node_rejoin_timeout: number;
  shutdown_check_timeout: number;
  wal_receive_check_timeout: number;
  service_start_command: string;
  service_stop_command: string;
  service_restart_command: string;
  service_reload_command: string;
  service_promote_command: string;
  monitoring_history: boolean;
  log_level: (typeof LOG_LEVELS)[number];
  log_file: string;
  log_status_interval: number;
  /** Event names published to SNS and passed to event_notification_command; `['all']` = every event. */
  event_notifications: string[];
  event_notification_command: string;
  replication_lag_warning: number;
  replication_lag_critical: number;
  archive_ready_warning: number;
  archive_ready_critical: number;
  election_rerun_interval: number;
  // --- pgvigil's own keys --------------------------------------------------------------------
  cluster_id: string;
  aws_region: string;
  state_table: string;
  instance_id: string;
  vip_allocation_id: string;
  route53_zone_id: string;
  route53_record_name: string;
  route53_ttl: number;
  writer_endpoint: string;
  reader_endpoint: string;
  heartbeat_interval_secs: number;
  lease_secs: number;
  clock_skew_margin_ms: number;
  node_timeout_secs: number;
  /** Bytes; null = no limit. */
  maximum_lag_on_failover: number | null;
  fence_mode: (typeof FENCE_MODES)[number];
  auto_rejoin: boolean;
  failover_on_location_loss: boolean;
  sync_downgrade_after_secs: number;
  rest_api_listen: string;
  rest_api_lag_sample_ms: number;
  rest_api_secret_arn: string;
  rest_api_secret_file: string;
  agent_state_dir: string;
  failsafe_mode: boolean;
  event_notification_timeout: number;
}

export type ConfigKey = keyof PgvigilConfig;

/** How a key's text is read. `bytes` is an integer with an optional kB/MB/GB/TB suffix. */
export type ConfigValueType = 'int' | 'number' | 'bool' | 'string' | 'enum' | 'list' | 'bytes';

export interface ConfigKeySpec<T> {
  type: ConfigValueType;
  /** Value when the key is not set (ignored for required keys). */
  default: T;
  required?: boolean;
  /** Computes the default from the other keys (e.g. node_timeout_secs = 3 × heartbeat). */
  derive?: (config: Readonly<PgvigilConfig>) => T;
  /** How the default reads in docs when it is not a plain value. */
  defaultText?: string;
  /** Inclusive range for int/number/bytes. */
  min?: number;
  max?: number;
  /** Allowed values of an enum (matched case-insensitively, stored as written here). */
  values?: readonly string[];
  /** Longest accepted string, or list item (default {@link DEFAULT_MAX_LENGTH}). */
  maxLength?: number;
  /** Most items of a list. */
  maxItems?: number;
  /** An empty value means "unset" and yields null (bytes keys). */
  nullable?: boolean;
  /** What a string key expects, in words (used when it is missing). */
  expect?: string;
  /** Extra check of a non-empty string value; returns what was expected, or undefined when fine. */
  check?: (value: string) => string | undefined;
  origin: 'repmgr' | 'pgvigil';
  unit?: string;
  /** One line: what the key does (shown by `config check` and in docs/configuration.md). */
  description: string;
}

export type ConfigKeyTable = { readonly [K in ConfigKey]: ConfigKeySpec<PgvigilConfig[K]> };

const INT_MAX = 2_147_483_647;
const DAY = 86_400;

/** The shortest nonzero `rest_api_lag_sample_ms`: one tiny query this often is still cheap. */
export const MIN_LAG_SAMPLE_MS = 50;

/** Longest string value of a key that sets no `maxLength`. */
export const DEFAULT_MAX_LENGTH = 4096;

/** A cluster id: also the partition of its items in the state table (core/model.ts). */
export const CLUSTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** What node_name and the node record allow. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

const absolutePath = (v: string): string | undefined =>
  v.startsWith('/') ? undefined : `expected an absolute path (starting with "/"), got "${v}"`;

const printableAscii = (v: string): string | undefined =>
  PRINTABLE_ASCII.test(v) ? undefined : 'expected printable ASCII characters only';

const conninfoCheck = (v: string): string | undefined => {
  try {
    parseConninfo(v);
    return undefined;
  } catch (error) {
    return error instanceof PgvigilError ? error.message : 'expected a libpq connection string';
  }
};

const hostPort =
  (requirePort: boolean) =>
  (v: string): string | undefined => {
    const parsed = parseHostPort(v);
    if (parsed && (parsed.port !== null || !requirePort)) return undefined;
    return `expected ${requirePort ? 'address:port' : 'host[:port]'} (a port from 1 to 65535; an IPv6 address in brackets), got "${v}"`;
  };

const pattern =
  (regex: RegExp, expected: string) =>
  (v: string): string | undefined =>
    regex.test(v) ? undefined : `expected ${expected}, got "${v}"`;

const secs = (description: string, def: number, min = 1, max = DAY, origin: 'repmgr' | 'pgvigil' = 'repmgr'): ConfigKeySpec<number> => ({
  type: 'int',
  default: def,
  min,
  max,
  origin,
  unit: 's',
  description,
});

const str = (description: string, extra: Partial<ConfigKeySpec<string>> = {}): ConfigKeySpec<string> => ({
  type: 'string',
  default: '',
  maxLength: DEFAULT_MAX_LENGTH,
  origin: 'repmgr',
  description,
  ...extra,
});

const bool = (description: string, def: boolean, origin: 'repmgr' | 'pgvigil' = 'repmgr'): ConfigKeySpec<boolean> => ({
  type: 'bool',
  default: def,
  origin,
  description,
});

/** The table of every key. Order is the order of `config check` and the docs. */
export const CONFIG_KEYS: ConfigKeyTable = {
  node_id: {
    type: 'int', default: 0, required: true, min: 1, max: INT_MAX, origin: 'repmgr',
    description: 'this node\'s id, unique in the cluster (an integer > 0)',
  },
  node_name: {
    type: 'string', default: '', required: true, maxLength: 63, check: printableAscii, origin: 'repmgr',
    expect: 'a node name (1-63 ASCII characters)',
    description: 'this node\'s name, at most 63 ASCII characters',
  },
  conninfo: {
    type: 'string', default: '', required: true, maxLength: 4096, check: conninfoCheck, origin: 'repmgr',
    expect: "a libpq connection string such as 'host=db1 user=repmgr dbname=repmgr'",
    description: 'libpq connection string other nodes and the agent use to reach this node (key=value or URI); any password is never stored or printed',
  },
  data_directory: {
    type: 'string', default: '', required: true, maxLength: 4096, check: absolutePath, origin: 'repmgr',
    expect: 'an absolute path',
    description: 'the PostgreSQL data directory of this node',
  },
  location: {
    type: 'string', default: 'default', maxLength: 255, origin: 'repmgr',
    description: 'where the node is, normally its Availability Zone; used by the location rule (R2)',
  },
  priority: {
    type: 'int', default: 100, min: 0, max: INT_MAX, origin: 'repmgr',
    description: 'promotion preference among equally advanced standbys; 0 = never promote this node',
  },
  replication_user: str('user for replication connections; empty = the user of conninfo', { maxLength: 63 }),
  pg_bindir: str('directory of the PostgreSQL binaries (pg_ctl, pg_basebackup, pg_rewind); empty = `/usr/lib/postgresql/15/bin`, where Debian\'s and Ubuntu\'s packages put them (repmgr searches PATH instead: set it on other layouts, e.g. `/usr/pgsql-15/bin` for the PGDG RPMs)', { check: absolutePath }),
  use_replication_slots: bool('create and use a physical replication slot for each standby', false),
  failover: {
    type: 'enum', default: 'automatic', values: FAILOVER_MODES, origin: 'repmgr',
    description: 'automatic = the controller fails over; manual = it only reports (pgvigil\'s default is automatic)',
  },
  monitor_interval_secs: {
    type: 'number', default: 2, min: 0.1, max: 3600, origin: 'repmgr', unit: 's',
    description: 'how often the agent checks its own server and its upstream',
  },
  reconnect_attempts: {
    type: 'int', default: 6, min: 0, max: 1000, origin: 'repmgr',
    description: 'failed checks in a row before the upstream (or the local server) counts as failed',
  },
  reconnect_interval: {
    type: 'number', default: 10, min: 0, max: 3600, origin: 'repmgr', unit: 's',
    description: 'seconds between those checks',
  },
  connection_check_type: {
    type: 'enum', default: 'ping', values: CONNECTION_CHECK_TYPES, origin: 'repmgr',
    description: 'ping = is the server answering the protocol; connection = open a new session; query = run connection_check_query on a kept session',
  },
  connection_check_query: str('the query run by connection_check_type=query', { default: 'SELECT 1' }),
  primary_visibility_consensus: bool('fail over only when no observer still sees the primary (rule R1; pgvigil\'s default is true)', true),
  standby_disconnect_on_failover: bool('stop the WAL receivers of all standbys before choosing the candidate, so their positions settle', false),
  sibling_nodes_disconnect_timeout: secs('how long to wait for the standbys\' WAL receivers to stop (standby_disconnect_on_failover)', 30, 0),
  failover_validation_command: str('run on the candidate before promotion (%n node id, %a node name, %v visible nodes, %t total nodes); a non-zero exit cancels the round'),
  promote_check_timeout: secs('how long to wait for a promoted standby to leave recovery', 60),
  promote_check_interval: secs('how often to check during promote_check_timeout', 1, 1, 3600),
  primary_follow_timeout: secs('how long a standby waits for the new primary when told to follow it', 60),
  standby_reconnect_timeout: secs('how long a standby waits to reconnect to its upstream after a follow or rejoin', 60),
  node_rejoin_timeout: secs('how long node rejoin waits for the rejoined node to start streaming', 60),
  shutdown_check_timeout: secs('how long demote/fence wait for the local server to stop', 60),
  wal_receive_check_timeout: secs('how long to wait for a standby to receive WAL up to a given position (switchover, disconnect)', 30, 0),
  service_start_command: str('command that starts the local PostgreSQL server; empty = pg_ctl -D data_directory -w start'),
  service_stop_command: str('command that stops the local server; empty = pg_ctl -D data_directory -m fast -w stop'),
  service_restart_command: str('command that restarts the local server; empty = pg_ctl -D data_directory -m fast -w restart'),
  service_reload_command: str('command that reloads the local server\'s configuration; empty = pg_ctl -D data_directory reload'),
  service_promote_command: str('command that promotes the local standby; empty = pg_ctl -D data_directory -w promote'),
  monitoring_history: bool('write replication monitoring samples (repmgr\'s monitoring_history) to the state table', false),
  log_level: {
    type: 'enum', default: 'INFO', values: LOG_LEVELS, origin: 'repmgr',
    description: 'the agent\'s log level (ALERT, CRIT and EMERG log as ERROR)',
  },
  log_file: str('file the agent logs to; empty = stderr (the systemd journal)', { check: absolutePath }),
  log_status_interval: secs('how often the agent logs a one-line status; 0 = never', 300, 0),
  event_notifications: {
    type: 'list', default: ['all'], maxItems: 100, maxLength: 64, origin: 'repmgr',
    description: 'comma-separated event names published to SNS and passed to event_notification_command; all (or empty) = every event; events are always stored',
  },
  event_notification_command: str(
    'run by the agent on the node an event is about (%n node id, %a/%c/%p the primary\'s name/conninfo/id where repmgr defines them, %e event, %s 1/0, %t timestamp, %d details); see docs/operations.md',
  ),
  replication_lag_warning: secs('node check: replication lag (seconds) above which it warns', 300, 1, DAY * 7),
  replication_lag_critical: secs('node check: replication lag (seconds) above which it is critical', 600, 1, DAY * 7),
  archive_ready_warning: {
    type: 'int', default: 16, min: 1, max: 1_000_000, origin: 'repmgr', unit: 'files',
    description: 'node check: WAL files waiting to be archived above which it warns',
  },
  archive_ready_critical: {
    type: 'int', default: 128, min: 1, max: 1_000_000, origin: 'repmgr', unit: 'files',
    description: 'node check: WAL files waiting to be archived above which it is critical',
  },
  election_rerun_interval: secs('wait before re-evaluating after a cancelled failover round', 15, 0, 3600),

  cluster_id: {
    type: 'string', default: 'default', origin: 'pgvigil',
    check: pattern(CLUSTER_ID_PATTERN, '1-63 letters, digits, "_", "." or "-" starting with a letter or digit'),
    description: 'the cluster this node belongs to; one deployment serves many clusters (default "default", like repmgr\'s single cluster)',
  },
  aws_region: {
    type: 'string', default: '', origin: 'pgvigil',
    check: pattern(/^[a-z]{2,}(-[a-z]+)+-\d{1,2}$/, 'an AWS region such as eu-west-1'),
    description: 'AWS region of the state table and the cluster\'s instances; empty = the AWS SDK\'s default (AWS_REGION, profile, IMDS)',
  },
  state_table: {
    type: 'string', default: 'pgvigil', origin: 'pgvigil',
    check: pattern(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name (3-255 letters, digits, "_", "." or "-")'),
    description: 'the DynamoDB table holding the clusters\' state (the one the CDK stack created)',
  },
  instance_id: {
    type: 'string', default: '', origin: 'pgvigil',
    check: pattern(/^i-[0-9a-f]{8,17}$/, 'an EC2 instance id such as i-0123456789abcdef0'),
    description: 'this host\'s EC2 instance id; empty = read it from the instance metadata service (IMDSv2)',
  },
  vip_allocation_id: {
    type: 'string', default: '', origin: 'pgvigil',
    check: pattern(/^eipalloc-[0-9a-f]{8,17}$/, 'an Elastic IP allocation id such as eipalloc-0123456789abcdef0'),
    description: 'allocation id of the Elastic IP that follows the primary (the virtual IP); empty = no virtual IP',
  },
  route53_zone_id: {
    type: 'string', default: '', origin: 'pgvigil',
    check: pattern(/^[A-Z0-9]{4,32}$/, 'a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ'),
    description: 'private hosted zone of a Route 53 record that follows the primary (with route53_record_name); empty = no such record',
  },
  route53_record_name: {
    type: 'string', default: '', origin: 'pgvigil',
    check: (v) => (isDnsName(v) ? undefined : `expected a fully qualified DNS name such as primary.orders.internal, got "${v}"`),
    description: 'name of the A record the controller points at the primary\'s private address at every failover and switchover',
  },
  route53_ttl: secs('TTL of that record: how long resolvers may keep sending clients to the former primary after a failover', 5, 0, DAY, 'pgvigil'),
  writer_endpoint: {
    type: 'string', default: '', origin: 'pgvigil', check: hostPort(false),
    description: 'host[:port] of a load balancer route to the primary (the NLB writer listener, HAProxy); printed by pgvigil cluster uri',
  },
  reader_endpoint: {
    type: 'string', default: '', origin: 'pgvigil', check: hostPort(false),
    description: 'host[:port] of a load balancer route to the standbys (the NLB reader listener, HAProxy); printed by pgvigil cluster uri',
  },
  heartbeat_interval_secs: {
    type: 'number', default: 5, min: 0.1, max: 3600, origin: 'pgvigil', unit: 's',
    description: 'how often a healthy agent writes its heartbeat (it writes at once when something changes); the primary renews its lease with it',
  },
  lease_secs: {
    type: 'number', default: 20, min: 0.2, max: 3600, origin: 'pgvigil', unit: 's',
    description: 'a primary that cannot renew its lease for this long fences itself; at least 2 × heartbeat_interval_secs',
  },
  clock_skew_margin_ms: {
    type: 'int', default: 1000, min: 0, max: 600_000, origin: 'pgvigil', unit: 'ms',
    description: 'allowance for clock differences between hosts and the controller (freshness, lease expiry)',
  },
  node_timeout_secs: {
    type: 'number', default: 15, min: 0.1, max: 36_000, origin: 'pgvigil', unit: 's',
    derive: (c) => 3 * c.heartbeat_interval_secs,
    defaultText: '3 × heartbeat_interval_secs',
    description: 'a heartbeat older than this is stale and its node is not used as evidence or as a candidate',
  },
  maximum_lag_on_failover: {
    type: 'bytes', default: null, nullable: true, min: 0, max: Number.MAX_SAFE_INTEGER, origin: 'pgvigil', unit: 'bytes',
    defaultText: 'no limit',
    description: 'a standby more than this many bytes behind the primary\'s last reported LSN is not a candidate (e.g. 16MB)',
  },
  fence_mode: {
    type: 'enum', default: 'ssm-then-stop-instance', values: FENCE_MODES, origin: 'pgvigil',
    description: 'how a failed primary is fenced: SSM fence command, then EC2 StopInstances if it did not confirm; SSM only; or not at all',
  },
  auto_rejoin: bool("rewind a fenced former primary that comes back and make it follow the new primary (on in the sandbox and the example stack; a switchover's demoted primary rejoins either way)", false, 'pgvigil'),
  failover_on_location_loss: bool('fail over when the primary\'s whole location is dark, once its lease has expired (false = repmgr\'s behaviour: cancel)', true, 'pgvigil'),
  sync_downgrade_after_secs: secs('switch the primary to asynchronous replication when no synchronous standby has been connected and acknowledging (flushing, or caught up) this long; 0 = never', 0, 0, DAY, 'pgvigil'),
  rest_api_listen: {
    type: 'string', default: '', origin: 'pgvigil', check: hostPort(true),
    description: 'address:port of the agent\'s HTTP API (health endpoints for load balancers, failsafe confirmations); empty = off; the example stack uses port 8008',
  },
  rest_api_lag_sample_ms: {
    type: 'int', default: 200, min: 0, max: 60_000, origin: 'pgvigil', unit: 'ms',
    description: `with rest_api_listen, how often a standby's agent samples its received and replayed positions and replay delay for the API's lag answers (\`/replica?lag=\`) between monitoring ticks; 0 = only at each tick; else at least ${MIN_LAG_SAMPLE_MS}`,
  },
  rest_api_secret_arn: {
    type: 'string', default: '', origin: 'pgvigil',
    check: pattern(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager secret ARN'),
    description: 'Secrets Manager secret holding the cluster\'s shared secret for the agent API\'s authenticated requests (stack output AgentApiSecretArns)',
  },
  rest_api_secret_file: str('file holding that shared secret instead of Secrets Manager (the sandbox writes one)', {
    check: absolutePath, origin: 'pgvigil',
  }),
  agent_state_dir: str('directory where the agent keeps its local state (sequence number, fence marker)', {
    default: '/var/lib/pgvigil', check: absolutePath, origin: 'pgvigil',
  }),
  failsafe_mode: bool('a primary that cannot reach DynamoDB keeps serving past its lease while every active standby confirms over the agent API that it still sees it (needs rest_api_listen and the API secret)', true, 'pgvigil'),
  event_notification_timeout: secs('how long one run of event_notification_command may take before it is killed and recorded as failed', 60, 1, 3600, 'pgvigil'),
};

/** The keys in table order. */
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

/**
 * repmgr 3/4/5 keys that pgvigil accepts and ignores (one notice names them), with why. A user's
 * repmgr.conf must load unchanged; these are the keys repmgr's own parser knows.
 */
export const REPMGR_UNUSED_KEYS: Readonly<Record<string, string>> = {
  config_directory: 'pgvigil does not manage PostgreSQL\'s configuration files',
  repmgr_bindir: 'pgvigil runs its own binaries',
  replication_type: 'only physical replication exists',
  use_primary_conninfo_password: 'passwords come from .pgpass/PGPASSFILE or Secrets Manager',
  passfile: 'use PGPASSFILE or ~/.pgpass',
  ssh_options: 'host actions run through SSM Run Command, not SSH',
  rsync_options: 'host actions run through SSM Run Command, not rsync over SSH',
  pg_basebackup_options: 'standby clone uses pgvigil\'s own pg_basebackup options',
  tablespace_mapping: 'standby clone does not remap tablespaces',
  restore_command: 'set restore_command in postgresql.conf',
  archive_cleanup_command: 'set archive_cleanup_command in postgresql.conf',
  recovery_min_apply_delay: 'set recovery_min_apply_delay in postgresql.conf',
  pg_ctl_options: 'use service_*_command',
  promote_command: 'the agent promotes when the controller tells it (SSM)',
  follow_command: 'the agent follows when the controller tells it (SSM)',
  primary_notification_timeout: 'standbys learn of the new primary from the controller',
  repmgrd_standby_startup_timeout: 'there is no repmgrd',
  standby_follow_restart: 'follow restarts the server when it must',
  standby_follow_timeout: 'see primary_follow_timeout',
  repmgrd_pid_file: 'there is no repmgrd; the agent runs under systemd',
  repmgrd_exit_on_inactive_node: 'there is no repmgrd',
  repmgrd_service_start_command: 'the agent runs under systemd (pgvigil-agent.service)',
  repmgrd_service_stop_command: 'the agent runs under systemd (pgvigil-agent.service)',
  degraded_monitoring_timeout: 'the agent never gives up monitoring',
  async_query_timeout: 'checks have their own timeouts',
  always_promote: 'the controller decides promotion',
  failover_delay: 'the controller decides when to fail over',
  promote_delay: 'a repmgr test setting',
  child_nodes_check_interval: 'the controller watches every node',
  child_nodes_disconnect_min_count: 'the controller watches every node',
  child_nodes_connected_min_count: 'the controller watches every node',
  child_nodes_connected_include_witness: 'the controller watches every node',
  child_nodes_disconnect_timeout: 'the controller watches every node',
  child_nodes_disconnect_command: 'the controller watches every node',
  witness_sync_interval: 'witnesses read the cluster from the state table',
  log_facility: 'the agent logs JSON lines to stderr (journald) or log_file',
  bdr_local_monitoring_only: 'BDR is not supported',
  bdr_recovery_timeout: 'BDR is not supported',
  barman_host: 'Barman cloning is not supported',
  barman_server: 'Barman cloning is not supported',
  barman_config: 'Barman cloning is not supported',
  pg_backup_api_host: 'Barman cloning is not supported',
  pg_backup_api_location: 'Barman cloning is not supported',
  pg_backup_api_backup_id: 'Barman cloning is not supported',
  pg_backup_api_server_name: 'Barman cloning is not supported',
  // repmgr 3 names, still found in old files.
  cluster: 'repmgr 3 key; pgvigil uses cluster_id',
  node: 'repmgr 3 key; use node_id',
  upstream_node: 'repmgr 3 key; the upstream is given at standby register/follow',
  loglevel: 'repmgr 3 key; use log_level',
  logfacility: 'repmgr 3 key',
  logfile: 'repmgr 3 key; use log_file',
  master_response_timeout: 'repmgr 3 key',
  retry_promote_interval_secs: 'repmgr 3 key',
  witness_repl_nodes_sync_interval_secs: 'repmgr 3 key',
};
