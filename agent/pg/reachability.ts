/**
 * Is another node's server answering? Three strengths, repmgr's `connection_check_type`:
 * - `ping`: open TCP, send a protocol startup packet, and count any protocol answer (an
 *   authentication request, or an error such as "password authentication failed") as answering,
 *   like libpq's PQping. Needs no credentials. "The database system is starting up/shutting
 *   down" (SQLSTATE 57P03) counts as not answering, as PQping's PQPING_REJECT does.
 * - `connection`: open a new session (needs credentials, via .pgpass).
 * - `query`: run `connection_check_query` on a session kept open between checks.
 */
import { Socket } from 'node:net';
import { parseConninfo, hostPort } from './conninfo.js';
import { close, connect, withTimeout, type Session } from '../../adapters/pg-session.js';

export interface CheckResult {
  ok: boolean;
  /** Why the check failed (or what answered), for logs. */
  detail: string;
}

/** A PQping-style probe: needs no password. */
export async function ping(host: string, port: number, user: string, database: string, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let done = false;
    let buffer = Buffer.alloc(0);
    const finish = (result: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // A polite goodbye (Terminate) when the server was ready to talk; otherwise just close.
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.once('error', (error) => finish({ ok: false, detail: error.message }));
    socket.once('close', () => finish({ ok: false, detail: 'connection closed without an answer' }));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const type = String.fromCharCode(buffer[0] ?? 0);
      if (type === 'R') {
        finish({ ok: true, detail: 'server answered with an authentication request' });
      } else if (type === 'E') {
        if (buffer.length < 5) return;
        const len = buffer.readUInt32BE(1);
        if (buffer.length < len + 1) return;
        const fields = parseErrorFields(buffer.subarray(5, len + 1));
        if (fields.C === '57P03') finish({ ok: false, detail: `server rejected connections: ${fields.M ?? ''}` });
        else finish({ ok: true, detail: `server answered: ${fields.M ?? 'error'}` });
      } else {
        finish({ ok: false, detail: `unexpected protocol answer "${type}"` });
      }
    });
    socket.connect(port, host, () => {
      const params = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0pgvigil-ping\0\0`, 'utf8');
      const header = Buffer.alloc(8);
      header.writeUInt32BE(8 + params.length, 0);
      header.writeUInt32BE(196608, 4); // protocol 3.0
      socket.write(Buffer.concat([header, params]));
    });
  });
}

function parseErrorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i] as number);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    out[code] = body.subarray(i + 1, end).toString('utf8');
    i = end + 1;
  }
  return out;
}

/** Checks one node by `connection_check_type`; `query` keeps its session in `sessions` (by key). */
export class ReachabilityChecker {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly type: 'ping' | 'connection' | 'query',
    private readonly checkQuery: string,
  ) {}

  async check(conninfo: string, timeoutMs: number): Promise<CheckResult> {
    try {
      if (this.type === 'ping') {
        const p = parseConninfo(conninfo);
        const { host, port } = hostPort(conninfo);
        return await ping(host, port, p.user ?? 'postgres', p.dbname ?? p.user ?? 'postgres', timeoutMs);
      }
      if (this.type === 'connection') {
        const s = await connect(conninfo, timeoutMs);
        await close(s);
        return { ok: true, detail: 'connection opened' };
      }
      let session = this.sessions.get(conninfo);
      if (!session) {
        session = await connect(conninfo, timeoutMs);
        this.sessions.set(conninfo, session);
      }
      try {
        await withTimeout(session.query(this.checkQuery), timeoutMs, `query did not return within ${timeoutMs} ms`);
        return { ok: true, detail: 'query succeeded' };
      } catch (error) {
        this.sessions.delete(conninfo);
        await close(session);
        throw error;
      }
    } catch (error) {
      const e = error as Error & { detail?: string };
      return { ok: false, detail: e.detail ? `${e.message}: ${e.detail.split('\n')[0]}` : e.message };
    }
  }

  /** Closes kept sessions of nodes no longer checked. */
  async retain(conninfos: ReadonlySet<string>): Promise<void> {
    for (const [key, session] of this.sessions) {
      if (!conninfos.has(key)) {
        this.sessions.delete(key);
        await close(session);
      }
    }
  }

  async closeAll(): Promise<void> {
    await this.retain(new Set());
  }
}
