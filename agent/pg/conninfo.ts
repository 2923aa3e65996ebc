/**
 * conninfo handling for the agent: parsing and password stripping come from core/conninfo (both
 * libpq syntaxes); this adds what a client needs: host/port and node-postgres settings. A password
 * is never taken from a conninfo; node-postgres reads `.pgpass` / `PGPASSFILE` itself.
 */
import type { ClientConfig } from 'pg';
import { formatConninfo as formatCore, parseConninfo, stripPassword } from '../../core/conninfo.js';

export { parseConninfo, stripPassword };

/** Formats keywords as a `key=value` conninfo; undefined values are left out. */
export function formatConninfo(params: Record<string, string | undefined>): string {
  const defined: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) defined[k] = v;
  return formatCore(defined);
}

/** Host and port a conninfo points at (the first of several; libpq defaults localhost:5432). */
export function hostPort(conninfo: string): { host: string; port: number } {
  const p = parseConninfo(conninfo);
  return { host: (p.host || p.hostaddr || 'localhost').split(',')[0] as string, port: Number((p.port || '5432').split(',')[0]) };
}

/** node-postgres settings for a conninfo; `password` is dropped so .pgpass is used. */
export function clientConfig(conninfo: string, overrides: Partial<ClientConfig> = {}): ClientConfig {
  const p = parseConninfo(conninfo);
  const { host, port } = hostPort(conninfo);
  const sslmode = p.sslmode ?? '';
  const config: ClientConfig = {
    host,
    port,
    user: p.user ?? process.env.PGUSER ?? 'postgres',
    database: p.dbname ?? p.user ?? 'postgres',
    application_name: p.application_name ?? 'pgvigil',
    connectionTimeoutMillis: p.connect_timeout ? Number(p.connect_timeout) * 1000 : 10_000,
    ...(['require', 'verify-ca', 'verify-full'].includes(sslmode) ? { ssl: { rejectUnauthorized: sslmode !== 'require' } } : {}),
  };
  return { ...config, ...overrides };
}
