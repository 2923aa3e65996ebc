/**
 * Short-lived sessions to a PostgreSQL server with every step bounded by a timeout, so a hung
 * server can never block the agent's loop or an action beyond its budget. A password is never
 * taken from a conninfo; node-postgres reads `.pgpass` / `PGPASSFILE` itself.
 */
import pg from 'pg';
import { hostPort, parseConninfo, stripPassword } from '../core/conninfo.js';
import { PgvigilError } from '../core/errors.js';

/** node-postgres settings for a conninfo; `password` is dropped so .pgpass is used. */
export function clientConfig(conninfo: string, overrides: Partial<pg.ClientConfig> = {}): pg.ClientConfig {
  const p = parseConninfo(conninfo);
  const { host, port } = hostPort(conninfo);
  const sslmode = p.sslmode ?? '';
  const config: pg.ClientConfig = {
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

export type Session = pg.Client;

/**
 * Opens a session. `replication: true` opens a physical replication connection (walsender).
 * Throws PgvigilError DB_CONN naming the conninfo (without password) on failure.
 */
export async function connect(conninfo: string, timeoutMs: number, options: { replication?: boolean; database?: string } = {}): Promise<Session> {
  const config = clientConfig(conninfo, {
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    ...(options.database ? { database: options.database } : {}),
    ...(options.replication ? { replication: 'true' } : {}),
  } as pg.ClientConfig);
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new PgvigilError('DB_CONN', 'connection to database failed', {
      detail: `${(error as Error).message}\nconnection string is: ${stripPassword(conninfo)}`,
      cause: error,
    });
  }
}

export async function close(session: Session | undefined): Promise<void> {
  if (session) await session.end().catch(() => undefined);
}

/** Runs `fn` with a fresh session and always closes it. */
export async function withSession<T>(conninfo: string, timeoutMs: number, fn: (s: Session) => Promise<T>, options: { replication?: boolean; database?: string } = {}): Promise<T> {
  const session = await connect(conninfo, timeoutMs, options);
  try {
    return await fn(session);
  } finally {
    await close(session);
  }
}

/** One query; failures become PgvigilError DB_QUERY with the statement's purpose in the message. */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(session: Session, sql: string, params: unknown[] = [], purpose = 'query'): Promise<R[]> {
  try {
    return (await session.query<R>(sql, params)).rows;
  } catch (error) {
    throw new PgvigilError('DB_QUERY', `${purpose} failed`, { detail: (error as Error).message, cause: error });
  }
}

export async function queryOne<R extends pg.QueryResultRow = Record<string, unknown>>(session: Session, sql: string, params: unknown[] = [], purpose = 'query'): Promise<R> {
  const rows = await query<R>(session, sql, params, purpose);
  const row = rows[0];
  if (row === undefined) throw new PgvigilError('DB_QUERY', `${purpose} returned no row`);
  return row;
}

/** Bounds a promise by a timeout; rejects with `message` when it expires. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
