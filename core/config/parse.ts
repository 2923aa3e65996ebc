/**
 * parseConfig: a repmgr.conf-format text plus environment overrides → the effective configuration,
 * or a ConfigError listing every problem of the file at once (fail fast, report every problem at
 * once, each with its file and line).
 *
 * Decisions a migrating repmgr user should know (also in docs/configuration.md):
 * - repmgr keys pgvigil does not use are accepted; one notice names them.
 * - Unknown keys are ignored with one notice (repmgr warns about them too) and a spelling hint.
 * - A key set twice: the last one counts, with a notice (as in postgresql.conf).
 * - Environment variables override the file: `PGVIGIL_<KEY>` for any key (PGVIGIL_CLUSTER_ID,
 *   PGVIGIL_STATE_TABLE …) and the AWS SDK's `AWS_REGION` for aws_region. Empty variables are
 *   ignored, as if unset.
 */
import { hasPassword } from '../conninfo.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { isEventName } from '../events.js';
import { closestName, excerpt } from '../text.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, DEFAULT_MAX_LENGTH, MIN_LAG_SAMPLE_MS, REPMGR_UNUSED_KEYS, type ConfigKey, type ConfigKeySpec, type PgvigilConfig } from './keys.js';
import { lexConfig } from './lexer.js';
import { expectation, readBool, readBytes, readEnum, readInt, readList, readNumber, type Read } from './values.js';

export type ConfigSource = 'default' | 'file' | 'env';

/** Where a key's effective value came from. */
export type ConfigOrigin =
  | { source: 'default' }
  | { source: 'file'; line: number }
  | { source: 'env'; variable: string };

export interface ParsedConfig {
  config: PgvigilConfig;
  /** One line each: unused repmgr keys, unknown keys, duplicates, a password in conninfo … */
  notices: string[];
  sources: Record<ConfigKey, ConfigSource>;
  /** Like `sources`, with the line or the variable. */
  origins: Record<ConfigKey, ConfigOrigin>;
}

/** postgresql.conf's include directives; repmgr.conf has none, and pgvigil reads one file. */
const INCLUDE_DIRECTIVES = new Set(['include', 'include_if_exists', 'include_dir']);

/** Variables other than `PGVIGIL_<KEY>` that set a key (lower precedence than `PGVIGIL_<KEY>`). */
const ENV_ALIASES: Partial<Record<ConfigKey, readonly string[]>> = {
  aws_region: ['AWS_REGION'],
};

/** The environment variables that override a key, highest precedence first. */
export function envVariablesFor(key: ConfigKey): string[] {
  return [`PGVIGIL_${key.toUpperCase()}`, ...(ENV_ALIASES[key] ?? [])];
}

export function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(CONFIG_KEYS, key);
}

function readValue(spec: ConfigKeySpec<unknown>, text: string): Read<unknown> {
  switch (spec.type) {
    case 'int':
      return readInt(text, spec);
    case 'number':
      return readNumber(text, spec);
    case 'bytes':
      if (spec.nullable && text.trim() === '') return { ok: true, value: null };
      return readBytes(text, spec);
    case 'bool':
      return readBool(text);
    case 'enum':
      return readEnum(text, spec.values ?? []);
    case 'list': {
      const r = readList(text);
      if (!r.ok) return r;
      const maxLength = spec.maxLength ?? DEFAULT_MAX_LENGTH;
      const long = r.value.find((v) => v.length > maxLength);
      if (long !== undefined) return { ok: false, message: `expected items of at most ${maxLength} characters, got "${excerpt(long)}"` };
      if (spec.maxItems !== undefined && r.value.length > spec.maxItems) return { ok: false, message: `expected at most ${spec.maxItems} items, got ${r.value.length}` };
      // repmgr: an empty event_notifications means every event.
      const all = r.value.length === 0 || r.value.some((v) => v.toLowerCase() === 'all');
      return { ok: true, value: all ? ['all'] : r.value };
    }
    case 'string': {
      const maxLength = spec.maxLength ?? DEFAULT_MAX_LENGTH;
      if (text.length > maxLength) {
        return { ok: false, message: `expected at most ${maxLength} characters, got ${text.length}` };
      }
      if (text.trim() === '') {
        if (spec.required) return { ok: false, message: `expected ${expectation(spec)}, got an empty value` };
        if (spec.default !== '') {
          return { ok: false, message: `expected ${expectation(spec)}, got an empty value (leave the key out to use the default "${String(spec.default)}")` };
        }
        return { ok: true, value: '' };
      }
      const problem = spec.check?.(text);
      return problem === undefined ? { ok: true, value: text } : { ok: false, message: problem };
    }
  }
}

function suggestion(key: string): string | undefined {
  return closestName(key, [...CONFIG_KEY_NAMES, ...Object.keys(REPMGR_UNUSED_KEYS)]);
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/**
 * Parses a repmgr.conf-format text.
 * @param file the file name used in problems and notices
 * @param env environment variables (pass `process.env` from outside core/)
 * @throws ConfigError listing every problem found; never anything else
 */
export function parseConfig(text: string, file: string, env: Record<string, string | undefined> = {}): ParsedConfig {
  const fileProblems: ConfigProblem[] = [];
  const envProblems: ConfigProblem[] = [];
  const missingProblems: ConfigProblem[] = [];
  const notices: string[] = [];

  const lexed = lexConfig(typeof text === 'string' ? text : String(text));
  const badKeys = new Set<string>();
  for (const p of lexed.problems) {
    fileProblems.push({ file, line: p.line, key: p.key, message: p.message });
    if (p.key !== undefined) badKeys.add(p.key);
  }

  const raw = new Map<ConfigKey, { text: string; origin: ConfigOrigin }>();
  const lines = new Map<ConfigKey, number[]>();
  const unused = new Map<string, number>();
  const unknown = new Map<string, number>();
  for (const a of lexed.assignments) {
    if (INCLUDE_DIRECTIVES.has(a.key)) {
      // Ignoring it would silently drop whatever the other file sets.
      fileProblems.push({ file, line: a.line, key: a.key, message: 'include directives are not supported: put the settings in this file' });
    } else if (isConfigKey(a.key)) {
      raw.set(a.key, { text: a.value, origin: { source: 'file', line: a.line } });
      lines.set(a.key, [...(lines.get(a.key) ?? []), a.line]);
    } else if (Object.hasOwn(REPMGR_UNUSED_KEYS, a.key)) {
      if (!unused.has(a.key)) unused.set(a.key, a.line);
    } else if (!unknown.has(a.key)) {
      unknown.set(a.key, a.line);
    }
  }

  for (const [key, at] of lines) {
    if (at.length > 1) {
      notices.push(`"${key}" is set on lines ${at.join(', ')}; the last one (line ${at[at.length - 1]}) counts`);
    }
  }
  if (unused.size > 0) {
    const list = [...unused].map(([k, l]) => `${k} (line ${l})`).join(', ');
    notices.push(`${plural(unused.size, 'this repmgr key is', 'these repmgr keys are')} accepted but not used by pgvigil: ${list}`);
  }
  if (unknown.size > 0) {
    const list = [...unknown]
      .map(([k, l]) => {
        const hint = suggestion(k);
        return `${excerpt(k, 64)} (line ${l}${hint ? `; did you mean "${hint}"?` : ''})`;
      })
      .join(', ');
    notices.push(`unknown ${plural(unknown.size, 'key', 'keys')} ignored: ${list}`);
  }

  for (const key of CONFIG_KEY_NAMES) {
    for (const variable of envVariablesFor(key)) {
      const value = env[variable];
      if (typeof value === 'string' && value !== '') {
        raw.set(key, { text: value, origin: { source: 'env', variable } });
        break;
      }
    }
  }

  const values: Partial<Record<ConfigKey, unknown>> = {};
  const origins = {} as Record<ConfigKey, ConfigOrigin>;
  const invalid = new Set<ConfigKey>();
  const problemAt = (origin: ConfigOrigin, key: ConfigKey, message: string): void => {
    if (origin.source === 'env') envProblems.push({ file: `environment variable ${origin.variable}`, line: undefined, key, message });
    else fileProblems.push({ file, line: origin.source === 'file' ? origin.line : undefined, key, message });
  };

  for (const key of CONFIG_KEY_NAMES) {
    const spec = CONFIG_KEYS[key] as ConfigKeySpec<unknown>;
    const entry = raw.get(key);
    if (entry === undefined) {
      origins[key] = { source: 'default' };
      if (spec.required) {
        invalid.add(key);
        if (!badKeys.has(key)) {
          missingProblems.push({ file, line: undefined, key, message: `required key is missing: expected ${key}=<${expectation(spec)}>` });
        }
      } else if (spec.derive === undefined) {
        values[key] = Array.isArray(spec.default) ? [...(spec.default as unknown[])] : spec.default;
      }
      continue;
    }
    origins[key] = entry.origin;
    const read = readValue(spec, entry.text);
    if (read.ok) {
      values[key] = read.value;
    } else {
      invalid.add(key);
      problemAt(entry.origin, key, read.message);
    }
  }

  // Keys whose default depends on others, once those are known.
  for (const key of CONFIG_KEY_NAMES) {
    const spec = CONFIG_KEYS[key] as ConfigKeySpec<unknown>;
    if (values[key] === undefined && !invalid.has(key) && spec.derive) {
      values[key] = spec.derive(values as PgvigilConfig);
    }
  }
  const config = values as PgvigilConfig;

  const crossCheck = (key: ConfigKey, others: ConfigKey[], ok: boolean, message: string): void => {
    if (ok || invalid.has(key) || others.some((o) => invalid.has(o))) return;
    // Report it where the user set one of them (the dependent key first).
    const origin = [key, ...others].map((k) => origins[k]).find((o) => o.source !== 'default') ?? origins[key];
    problemAt(origin, key, message);
  };
  crossCheck(
    'replication_lag_critical',
    ['replication_lag_warning'],
    config.replication_lag_critical > config.replication_lag_warning,
    `expected more than replication_lag_warning (${config.replication_lag_warning}), got ${config.replication_lag_critical}`,
  );
  crossCheck(
    'archive_ready_critical',
    ['archive_ready_warning'],
    config.archive_ready_critical > config.archive_ready_warning,
    `expected more than archive_ready_warning (${config.archive_ready_warning}), got ${config.archive_ready_critical}`,
  );
  crossCheck(
    'lease_secs',
    ['heartbeat_interval_secs'],
    config.lease_secs >= 2 * config.heartbeat_interval_secs,
    `expected at least 2 × heartbeat_interval_secs (${2 * config.heartbeat_interval_secs}), got ${config.lease_secs}: the lease is renewed with each heartbeat and must outlive one lost write`,
  );
  crossCheck(
    'node_timeout_secs',
    ['heartbeat_interval_secs'],
    config.node_timeout_secs > config.heartbeat_interval_secs,
    `expected more than heartbeat_interval_secs (${config.heartbeat_interval_secs}), got ${config.node_timeout_secs}: every heartbeat would be stale`,
  );

  crossCheck(
    'rest_api_lag_sample_ms',
    [],
    config.rest_api_lag_sample_ms === 0 || config.rest_api_lag_sample_ms >= MIN_LAG_SAMPLE_MS,
    `expected 0 (sample only at each monitoring tick) or ${MIN_LAG_SAMPLE_MS} to 60000 ms, got ${config.rest_api_lag_sample_ms}: a shorter period would query the server all the time`,
  );
  crossCheck(
    'route53_record_name',
    ['route53_zone_id'],
    (config.route53_zone_id === '') === (config.route53_record_name === ''),
    'route53_zone_id and route53_record_name go together: set both for a Route 53 record that follows the primary, or neither',
  );

  const problems = [
    ...fileProblems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER)),
    ...envProblems,
    ...missingProblems,
  ];
  if (problems.length > 0) throw new ConfigError(problems);

  if (hasPassword(config.conninfo)) {
    const where = origins.conninfo.source === 'file' ? ` (line ${origins.conninfo.line})` : '';
    notices.push(`conninfo${where} contains a password: pgvigil uses it to connect but never stores or prints it; prefer ~/.pgpass or PGPASSFILE`);
  }
  if (origins.cluster_id.source === 'default') {
    notices.push('cluster_id is not set: using "default" (set cluster_id, or PGVIGIL_CLUSTER_ID, when one deployment serves several clusters)');
  }
  const unknownEvents = config.event_notifications.filter((e) => e !== 'all' && !isEventName(e));
  if (unknownEvents.length > 0) {
    notices.push(`event_notifications: ${plural(unknownEvents.length, 'this event is', 'these events are')} not raised by pgvigil: ${unknownEvents.map((e) => excerpt(e)).join(', ')}`);
  }

  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const key of CONFIG_KEY_NAMES) sources[key] = origins[key].source;
  return { config, notices, sources, origins };
}
