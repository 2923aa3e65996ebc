/**
 * libpq conninfo handling for the agent: both the `key=value` and the `postgresql://` URI forms,
 * and the translation into node-postgres client settings. Passwords are never taken from a
 * conninfo we store or print; node-postgres reads `.pgpass` / `PGPASSFILE` itself.
 */
import type { ClientConfig } from 'pg';

/** Parses a conninfo string into its keywords. Throws on malformed text. */
export function parseConninfo(text: string): Record<string, string> {
  const t = text.trim();
  if (/^postgres(ql)?:\/\//.test(t)) return parseUri(t);
  const out: Record<string, string> = {};
  let i = 0;
  while (i < t.length) {
    while (i < t.length && /\s/.test(t[i] as string)) i++;
    if (i >= t.length) break;
    const keyStart = i;
    while (i < t.length && /[A-Za-z0-9_]/.test(t[i] as string)) i++;
    const key = t.slice(keyStart, i);
    while (i < t.length && /\s/.test(t[i] as string)) i++;
    if (key === '' || t[i] !== '=') throw new Error(`malformed conninfo near "${t.slice(keyStart, keyStart + 20)}"`);
    i++;
    while (i < t.length && /\s/.test(t[i] as string)) i++;
    let value = '';
    if (t[i] === "'") {
      i++;
      while (i < t.length && t[i] !== "'") {
        if (t[i] === '\\') i++;
        value += t[i] ?? '';
        i++;
      }
      if (t[i] !== "'") throw new Error('unterminated quoted value in conninfo');
      i++;
    } else {
      while (i < t.length && !/\s/.test(t[i] as string)) {
        if (t[i] === '\\') i++;
        value += t[i] ?? '';
        i++;
      }
    }
    out[key] = value;
  }
  return out;
}

function parseUri(text: string): Record<string, string> {
  const url = new URL(text.replace(/^postgres(ql)?:/, 'http:'));
  const out: Record<string, string> = {};
  if (url.hostname) out.host = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''));
  if (url.port) out.port = url.port;
  if (url.username) out.user = decodeURIComponent(url.username);
  if (url.password) out.password = decodeURIComponent(url.password);
  const db = url.pathname.replace(/^\//, '');
  if (db) out.dbname = decodeURIComponent(db);
  for (const [k, v] of url.searchParams) out[k] = v;
  return out;
}

/** Formats keywords as a `key=value` conninfo, quoting where libpq needs it. */
export function formatConninfo(params: Record<string, string | undefined>): string {
  return Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v === '' || /[\s'\\]/.test(v) ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : v}`)
    .join(' ');
}

/** The conninfo without any password (safe to store, log and print). */
export function stripPassword(conninfo: string): string {
  const params = parseConninfo(conninfo);
  delete params.password;
  return formatConninfo(params);
}

/** Host and port a conninfo points at (libpq defaults: localhost, 5432). */
export function hostPort(conninfo: string): { host: string; port: number } {
  const p = parseConninfo(conninfo);
  return { host: (p.host ?? p.hostaddr ?? 'localhost').split(',')[0] as string, port: Number((p.port ?? '5432').split(',')[0]) };
}

/** node-postgres settings for a conninfo; `password` is dropped so .pgpass is used. */
export function clientConfig(conninfo: string, overrides: Partial<ClientConfig> = {}): ClientConfig {
  const p = parseConninfo(conninfo);
  const { host, port } = hostPort(conninfo);
  const config: ClientConfig = {
    host,
    port,
    user: p.user ?? process.env.PGUSER ?? 'postgres',
    database: p.dbname ?? p.user ?? 'postgres',
    application_name: p.application_name ?? 'pgvigil',
    connectionTimeoutMillis: p.connect_timeout ? Number(p.connect_timeout) * 1000 : 10_000,
    ...(p.sslmode && p.sslmode !== 'disable' && p.sslmode !== 'allow' && p.sslmode !== 'prefer' ? { ssl: { rejectUnauthorized: p.sslmode === 'verify-full' || p.sslmode === 'verify-ca' } } : {}),
  };
  return { ...config, ...overrides };
}
