/**
 * The configuration the agent reads: repmgr.conf keys, snake_case, with defaults applied.
 *
 * The full configuration model lives in core/config (SPEC §3). Until it lands this module carries a
 * small repmgr.conf reader for the keys the agent uses; {@link AgentConfig} names exactly those
 * keys, so switching to `loadConfigFile` later changes no caller.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, type ConfigProblem } from '../core/errors.js';

export type ConnectionCheckType = 'ping' | 'connection' | 'query';

/** The repmgr.conf keys the agent uses. */
export interface AgentConfig {
  node_id: number;
  node_name: string;
  conninfo: string;
  data_directory: string;
  location: string;
  priority: number;
  replication_user: string;
  pg_bindir: string;
  use_replication_slots: boolean;
  failover: 'automatic' | 'manual';
  monitor_interval_secs: number;
  reconnect_attempts: number;
  reconnect_interval: number;
  connection_check_type: ConnectionCheckType;
  connection_check_query: string;
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
  log_level: string;
  log_file: string;
  log_status_interval: number;
  replication_lag_warning: number;
  replication_lag_critical: number;
  archive_ready_warning: number;
  archive_ready_critical: number;
  cluster_id: string;
  aws_region: string;
  state_table: string;
  instance_id: string;
  heartbeat_interval_secs: number;
  lease_secs: number;
  clock_skew_margin_ms: number;
  sync_downgrade_after_secs: number;
  /** Where the agent keeps its own state (sequence number, queued events). */
  agent_state_directory: string;
}

type Kind = 'int' | 'number' | 'bool' | 'string' | { enum: readonly string[] };

const KEYS: Record<keyof AgentConfig, { kind: Kind; default?: string | number | boolean; required?: boolean; min?: number }> = {
  node_id: { kind: 'int', required: true, min: 1 },
  node_name: { kind: 'string', required: true },
  conninfo: { kind: 'string', required: true },
  data_directory: { kind: 'string', required: true },
  location: { kind: 'string', default: 'default' },
  priority: { kind: 'int', default: 100, min: 0 },
  replication_user: { kind: 'string', default: '' },
  pg_bindir: { kind: 'string', default: '' },
  use_replication_slots: { kind: 'bool', default: false },
  failover: { kind: { enum: ['automatic', 'manual'] }, default: 'automatic' },
  monitor_interval_secs: { kind: 'number', default: 2, min: 0.1 },
  reconnect_attempts: { kind: 'int', default: 6, min: 0 },
  reconnect_interval: { kind: 'number', default: 10, min: 0 },
  connection_check_type: { kind: { enum: ['ping', 'connection', 'query'] }, default: 'ping' },
  connection_check_query: { kind: 'string', default: 'SELECT 1' },
  promote_check_timeout: { kind: 'number', default: 60, min: 1 },
  promote_check_interval: { kind: 'number', default: 1, min: 0.1 },
  primary_follow_timeout: { kind: 'number', default: 60, min: 1 },
  standby_reconnect_timeout: { kind: 'number', default: 60, min: 1 },
  node_rejoin_timeout: { kind: 'number', default: 60, min: 1 },
  shutdown_check_timeout: { kind: 'number', default: 60, min: 1 },
  wal_receive_check_timeout: { kind: 'number', default: 30, min: 1 },
  service_start_command: { kind: 'string', default: '' },
  service_stop_command: { kind: 'string', default: '' },
  service_restart_command: { kind: 'string', default: '' },
  service_reload_command: { kind: 'string', default: '' },
  service_promote_command: { kind: 'string', default: '' },
  monitoring_history: { kind: 'bool', default: false },
  log_level: { kind: { enum: ['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'ALERT', 'CRIT', 'EMERG'] }, default: 'INFO' },
  log_file: { kind: 'string', default: '' },
  log_status_interval: { kind: 'number', default: 300, min: 0 },
  replication_lag_warning: { kind: 'number', default: 300, min: 0 },
  replication_lag_critical: { kind: 'number', default: 600, min: 0 },
  archive_ready_warning: { kind: 'int', default: 16, min: 0 },
  archive_ready_critical: { kind: 'int', default: 128, min: 0 },
  cluster_id: { kind: 'string', default: 'default' },
  aws_region: { kind: 'string', default: '' },
  state_table: { kind: 'string', default: 'pgvigil' },
  instance_id: { kind: 'string', default: '' },
  heartbeat_interval_secs: { kind: 'number', default: 5, min: 0.1 },
  lease_secs: { kind: 'number', default: 20, min: 1 },
  clock_skew_margin_ms: { kind: 'int', default: 1000, min: 0 },
  sync_downgrade_after_secs: { kind: 'number', default: 0, min: 0 },
  agent_state_directory: { kind: 'string', default: '' },
};

const ENV_OVERRIDES: Record<string, keyof AgentConfig> = {
  PGVIGIL_CLUSTER_ID: 'cluster_id',
  PGVIGIL_STATE_TABLE: 'state_table',
  AWS_REGION: 'aws_region',
};

/** Parses repmgr.conf text; every problem is reported at once (file, line, key). */
export function parseAgentConfig(text: string, file: string, env: Record<string, string | undefined> = {}): AgentConfig {
  const problems: ConfigProblem[] = [];
  const raw = new Map<string, { value: string; line: number | undefined }>();
  text.split(/\r?\n/).forEach((lineText, index) => {
    const line = lineText.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push({ file, line: index + 1, key: undefined, message: 'expected key=value' });
      return;
    }
    let value = (m[2] ?? '').trim();
    if (value.startsWith("'") || value.startsWith('"')) {
      const q = value[0] as string;
      const end = value.indexOf(q, 1);
      value = end > 0 ? value.slice(1, end) : value.slice(1);
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    raw.set(m[1] as string, { value, line: index + 1 });
  });
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw.set(key, { value: v, line: undefined });
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(KEYS)) {
    const entry = raw.get(key);
    if (entry === undefined) {
      if (spec.required) problems.push({ file, line: undefined, key, message: 'is required' });
      else out[key] = spec.default;
      continue;
    }
    const { value, line } = entry;
    const fail = (expected: string): void => void problems.push({ file, line, key, message: `expected ${expected}, got "${value}"` });
    if (spec.kind === 'int' || spec.kind === 'number') {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) fail(spec.kind === 'int' ? 'an integer' : 'a number');
      else if (spec.min !== undefined && n < spec.min) fail(`a value of at least ${spec.min}`);
      else out[key] = n;
    } else if (spec.kind === 'bool') {
      const v = value.toLowerCase();
      if (['true', 'on', 'yes', '1'].includes(v)) out[key] = true;
      else if (['false', 'off', 'no', '0'].includes(v)) out[key] = false;
      else fail('a boolean (true/false)');
    } else if (spec.kind === 'string') {
      out[key] = value;
    } else if (!spec.kind.enum.includes(value)) {
      fail(`one of ${spec.kind.enum.join(', ')}`);
    } else {
      out[key] = value;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as unknown as AgentConfig;
}

/** Reads and parses a repmgr.conf file; a missing file is a ConfigError naming it. */
export async function loadAgentConfig(file: string, env: Record<string, string | undefined> = process.env): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: undefined, key: undefined, message: `cannot read configuration file: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  return parseAgentConfig(text, file, env);
}
