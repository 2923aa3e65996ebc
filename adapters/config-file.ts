/**
 * Reading a repmgr.conf-format file from disk (the parsing itself is pure: core/config).
 *
 * Without `-f`, pgvigil looks where repmgr users keep the file, first match wins:
 * `./repmgr.conf`, `/etc/pgvigil/repmgr.conf` (what the SSM documents pass), `/etc/repmgr.conf`.
 * (repmgr also asks `pg_config --sysconfdir`; pgvigil does not run programs to find its file.)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig, type ParsedConfig } from '../core/config/index.js';
import { ConfigError } from '../core/errors.js';
import { DEFAULT_CONFIG_LOCATIONS } from './config-locations.js';

export { DEFAULT_CONFIG_LOCATIONS };

/** Refuse to read absurdly large files into memory; a repmgr.conf is a few kilobytes. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface LoadedConfig extends ParsedConfig {
  /** The file that was read. */
  file: string;
}

function fail(file: string, message: string): ConfigError {
  return new ConfigError([{ file, line: undefined, key: undefined, message }]);
}

/**
 * Reads and parses a configuration file; environment variables override it (see parseConfig).
 * @throws ConfigError for a missing or unreadable file, and for every problem in it
 */
export function loadConfigFile(path: string, env: Record<string, string | undefined> = process.env): LoadedConfig {
  let text: string;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw fail(path, 'cannot read the configuration file: it is a directory');
    if (stat.size > MAX_CONFIG_BYTES) throw fail(path, `cannot read the configuration file: ${stat.size} bytes is more than the ${MAX_CONFIG_BYTES} a configuration file may have`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : ((error as Error).message ?? String(error));
    throw fail(path, `cannot read the configuration file: ${reason}`);
  }
  return { ...parseConfig(text, path, env), file: path };
}

/**
 * The file to read: the one given with `-f`, else the first of {@link DEFAULT_CONFIG_LOCATIONS}
 * that exists (relative to `cwd`).
 * @throws ConfigError when none is given and none exists
 */
export function resolveConfigPath(explicit: string | undefined, cwd: string = process.cwd(), exists: (p: string) => boolean = existsSync): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  for (const candidate of DEFAULT_CONFIG_LOCATIONS) {
    const path = resolve(cwd, candidate);
    if (exists(path)) return path;
  }
  throw fail(
    '(no configuration file)',
    `no configuration file given (-f FILE) and none found at ${DEFAULT_CONFIG_LOCATIONS.map((l) => resolve(cwd, l)).join(', ')}`,
  );
}
