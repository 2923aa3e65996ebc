/**
 * How configuration values read for people: `pgvigil config check` and docs/configuration.md.
 * Passwords never appear: conninfo is shown through stripPassword.
 */
import { stripPassword } from '../conninfo.js';
import { CONFIG_KEYS, CONFIG_KEY_NAMES, DEFAULT_MAX_LENGTH, REPMGR_UNUSED_KEYS, type ConfigKey, type ConfigKeySpec, type PgvigilConfig } from './keys.js';
import { envVariablesFor } from './parse.js';

/** A value as it would be written in repmgr.conf (strings quoted), secrets removed. */
export function displayConfigValue(key: ConfigKey, value: unknown): string {
  // Empty reads back as unset (e.g. maximum_lag_on_failover = no limit).
  if (value === null || value === undefined) return "''";
  if (key === 'conninfo' && typeof value === 'string') return `'${stripPassword(value)}'`;
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return String(value);
}

/** A copy of the configuration that is safe to print or store (no password in conninfo). */
export function redactConfig(config: PgvigilConfig): PgvigilConfig {
  return { ...config, conninfo: stripPassword(config.conninfo), event_notifications: [...config.event_notifications] };
}

function defaultText(spec: ConfigKeySpec<unknown>): string {
  if (spec.required) return '**required**';
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === '') return '(empty)';
  if (Array.isArray(spec.default)) return `\`${spec.default.join(',')}\``;
  return `\`${String(spec.default)}\``;
}

function typeText(spec: ConfigKeySpec<unknown>): string {
  const unit = spec.unit ? ` (${spec.unit})` : '';
  switch (spec.type) {
    case 'int':
    case 'number':
    case 'bytes': {
      const r = spec.min !== undefined && spec.max !== undefined ? ` ${spec.min}…${spec.max === Number.MAX_SAFE_INTEGER ? '2^53' : spec.max}` : '';
      return `${spec.type === 'int' ? 'integer' : spec.type === 'number' ? 'number' : 'bytes'}${r}${unit}`;
    }
    case 'enum':
      return (spec.values ?? []).map((v) => `\`${v}\``).join(' \\| ');
    case 'bool':
      return 'boolean';
    case 'list':
      return 'list';
    case 'string':
      return spec.maxLength !== undefined && spec.maxLength < DEFAULT_MAX_LENGTH ? `string (≤ ${spec.maxLength})` : 'string';
  }
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function table(origin: 'repmgr' | 'pgvigil'): string[] {
  const rows = ['| key | type | default | environment | meaning |', '|---|---|---|---|---|'];
  for (const key of CONFIG_KEY_NAMES) {
    const spec = CONFIG_KEYS[key] as ConfigKeySpec<unknown>;
    if (spec.origin !== origin) continue;
    const vars = envVariablesFor(key).map((v) => `\`${v}\``).join(', ');
    rows.push(`| \`${key}\` | ${typeText(spec)} | ${defaultText(spec)} | ${vars} | ${cell(spec.description)} |`);
  }
  return rows;
}

/** The generated part of docs/configuration.md (between its BEGIN/END markers). */
export function renderConfigKeysMarkdown(): string {
  return [
    '### repmgr keys',
    '',
    ...table('repmgr'),
    '',
    "### pgvigil's own keys",
    '',
    ...table('pgvigil'),
    '',
    '### repmgr keys accepted and ignored',
    '',
    'These load without error; `config check` names them in one notice.',
    '',
    '| key | why pgvigil does not use it |',
    '|---|---|',
    ...Object.entries(REPMGR_UNUSED_KEYS).map(([k, why]) => `| \`${k}\` | ${cell(why)} |`),
  ].join('\n');
}
