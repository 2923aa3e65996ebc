/**
 * A libpq-style multi-host connection for the peers' writers (node-postgres has none): the hosts
 * are tried in order, each with its own connect timeout, and the first server whose
 * `transaction_read_only` is off is kept (`target_session_attrs=read-write`). A read-only server or
 * one that cannot be reached sends the client on to the next host; when none qualifies, the error
 * names what each host answered, as libpq's does.
 *
 * The server is named `host:port@postmaster start time`, so a writer can tell a promoted standby
 * and a primary restarted in place from the primary it wrote to before a fault.
 */
import pg from 'pg';
import type { PgTarget } from '../../sandbox/writers.js';

/** What trying one host gave: a server to keep, or why not. */
export type HostOutcome<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * libpq's host selection: tries `hosts` in order and returns the first that `attempt` accepts;
 * later hosts are not tried. Throws, naming every host's reason, when none does.
 */
export async function selectHost<H, T>(hosts: readonly H[], label: (host: H) => string, attempt: (host: H) => Promise<HostOutcome<T>>): Promise<{ host: H; value: T }> {
  if (hosts.length === 0) throw new Error('multi-host connection: no hosts given');
  const reasons: string[] = [];
  for (const host of hosts) {
    let outcome: HostOutcome<T>;
    try {
      outcome = await attempt(host);
    } catch (error) {
      outcome = { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
    if (outcome.ok) return { host, value: outcome.value };
    reasons.push(`${label(host)}: ${outcome.reason}`);
  }
  throw new Error(`no read-write server among ${hosts.length} host(s): ${reasons.join('; ')}`);
}

function drop(client: pg.Client): void {
  try {
    client.connection.stream.destroy();
  } catch {
    // never connected
  }
  void client.end().catch(() => undefined);
}

/** Connects to one host and asks whether it takes writes; the client is closed unless it does. */
async function tryReadWrite(target: PgTarget, connectTimeoutMs: number): Promise<HostOutcome<{ client: pg.Client; server: string }>> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user ?? 'postgres',
    database: target.database ?? 'postgres',
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'pgvigil-bench-peers',
  });
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    // The timeout covers the check too: a server that accepts the connection but never answers
    // (a host whose network just went down) must not hold the writer.
    const row = await Promise.race([
      (async () => {
        await client.connect();
        const r = await client.query<{ ro: string; started: string }>("SELECT current_setting('transaction_read_only') AS ro, pg_postmaster_start_time()::text AS started");
        return r.rows[0];
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      }),
    ]);
    if (row?.ro !== 'off') {
      drop(client);
      return { ok: false, reason: 'read-only' };
    }
    return { ok: true, value: { client, server: `${target.host}:${target.port}@${row.started}` } };
  } catch (error) {
    drop(client);
    return { ok: false, reason: (error as Error).message };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Opens a connection to the first read-write server among `hosts` (in order). The returned client
 * is connected; `server` names it (see the module comment).
 */
export async function connectReadWrite(hosts: readonly PgTarget[], connectTimeoutMs: number): Promise<{ client: pg.Client; server: string }> {
  const { value } = await selectHost(hosts, (h) => `${h.host}:${h.port}`, (h) => tryReadWrite(h, connectTimeoutMs));
  return value;
}

/** The `host:port` part of a server name from {@link connectReadWrite}, as a target. */
export function serverTarget(server: string): PgTarget {
  const at = server.indexOf('@');
  const hostPort = at < 0 ? server : server.slice(0, at);
  const colon = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}
