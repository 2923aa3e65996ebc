/**
 * What the agent's HTTP API answers (docs/agent.md, "The HTTP API"), without serving anything:
 * the health endpoints of Patroni's REST API, with its paths and status codes, so HAProxy, NLB
 * target groups and Kubernetes probes written for Patroni work unchanged. Every answer comes from
 * the facts the daemon gathered at its latest tick (no query per request); the server (server.ts)
 * only parses the request and writes the answer.
 */
import { lsnDiff, maxLsn } from '../../core/lsn.js';
import { readBytes } from '../../core/config/values.js';
import type { ServerState } from '../../core/model.js';

/** The daemon's view that every answer is computed from. */
export interface ApiFacts {
  clusterId: string;
  nodeId: number;
  nodeName: string;
  version: string;
  /** The local server at the latest tick; null before the first or on a witness without PostgreSQL. */
  server: ServerState | null;
  fenced: boolean;
  /** The term and primary of the latest cluster record read; null before the first read. */
  term: number | null;
  primaryNodeId: number | null;
  /** Does the lease hold now (renewed, or kept by failsafe confirmations)? */
  leaseHeld: boolean;
  /** The lease is held past its renewals by the standbys' confirmations. */
  failsafe: boolean;
  /** The primary's last reported WAL position (its heartbeat), for a standby's lag in bytes (with what it has received). */
  primaryLsn: string | null;
  /** Monotonic ms of the end of the latest monitoring tick; null before the first. */
  lastTickMono: number | null;
  /** A tick older than this means the monitoring loop is stuck (`/liveness`). */
  livenessMs: number;
}

export type LagBound = { kind: 'bytes'; bytes: number } | { kind: 'secs'; secs: number };

export interface ApiRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
}

export interface ApiAnswer {
  status: number;
  /** JSON body (omitted on HEAD and OPTIONS). */
  body: Record<string, unknown>;
}

/** The read-only endpoints, Patroni's names first. */
export const HEALTH_PATHS = ['/', '/primary', '/read-write', '/replica', '/read-only', '/health', '/liveness', '/readiness', '/status', '/patroni'] as const;
type HealthPath = (typeof HEALTH_PATHS)[number];

/**
 * `?lag=` as Patroni reads it (bytes, or a size with kB/MB/GB/TB), plus a time bound (`10s`,
 * `500ms`, `2min`) measured as the standby's replay delay.
 */
export function parseLag(text: string): { ok: true; bound: LagBound } | { ok: false; message: string } {
  const t = /^\s*(\d{1,9}(?:\.\d{1,3})?)\s*(ms|s|min)\s*$/i.exec(text);
  if (t) {
    const n = Number(t[1]);
    const unit = (t[2] ?? 's').toLowerCase();
    return { ok: true, bound: { kind: 'secs', secs: unit === 'ms' ? n / 1000 : unit === 'min' ? n * 60 : n } };
  }
  const b = readBytes(text, { min: 0 });
  if (b.ok) return { ok: true, bound: { kind: 'bytes', bytes: b.value } };
  return { ok: false, message: `bad lag value "${text.slice(0, 64)}": expected bytes (1048576), a size (16MB, 1GB) or a time (10s, 500ms, 2min)` };
}

/** The role the status reports, in Patroni's words. */
export function role(f: ApiFacts): 'primary' | 'replica' | 'witness' | 'unknown' {
  const s = f.server;
  if (s === null) return f.lastTickMono === null ? 'unknown' : 'witness';
  if (!s.accepting_connections || s.in_recovery === null) return 'unknown';
  return s.in_recovery ? 'replica' : 'primary';
}

/**
 * The writable primary of the current term: its server answers out of recovery, it is not fenced,
 * the cluster record it last read names it, and its lease holds (renewed, or kept in failsafe).
 */
export function isWritablePrimary(f: ApiFacts): boolean {
  return role(f) === 'primary' && !f.fenced && f.primaryNodeId === f.nodeId && f.leaseHeld;
}

/** A standby whose WAL receiver streams. */
export function isStreamingReplica(f: ApiFacts): boolean {
  return role(f) === 'replica' && f.server?.wal_receiver_status === 'streaming';
}

/**
 * How far this standby's reads are behind (docs/agent.md, "The HTTP API"). Bytes: from the primary's
 * position as far as this standby knows it — the further of the primary's last reported WAL position
 * and what this standby has received — to the position it has replayed, as Patroni measures it
 * (its primary's position from the DCS or the WAL receiver, to the replayed one). Received but not
 * replayed WAL is not visible to reads: a standby whose replay is paused or delayed is behind
 * however much it receives. Seconds: its replay delay, from the local probe.
 */
export function replicaLag(f: ApiFacts): { bytes: number | null; secs: number | null } {
  const s = f.server;
  if (!s) return { bytes: null, secs: null };
  const primary = maxLsn([f.primaryLsn, s.receive_lsn]);
  const bytes = primary && s.replay_lsn ? Math.max(0, Number(lsnDiff(primary, s.replay_lsn))) : null;
  return { bytes, secs: s.replication_lag_secs ?? null };
}

function withinLag(f: ApiFacts, bound: LagBound | undefined): boolean {
  if (!bound) return true;
  const lag = replicaLag(f);
  // An unknown lag cannot be shown to be within the bound: the balancer should not send reads here.
  if (bound.kind === 'bytes') return lag.bytes !== null && lag.bytes <= bound.bytes;
  return lag.secs !== null && lag.secs <= bound.secs;
}

/** The JSON status document (`GET /status`, and the body of every health answer). */
export function statusDocument(f: ApiFacts, nowMono: number): Record<string, unknown> {
  const s = f.server;
  const r = role(f);
  const lag = r === 'replica' ? replicaLag(f) : null;
  return {
    state: s === null ? (r === 'witness' ? 'running' : 'unknown') : s.accepting_connections ? 'running' : s.postmaster_running ? 'starting' : 'stopped',
    role: r,
    timeline: s?.timeline ?? null,
    database_system_identifier: s?.system_identifier ?? null,
    xlog: r === 'primary' ? { location: s?.current_lsn ?? null } : r === 'replica' ? { received_location: s?.receive_lsn ?? null, replayed_location: s?.replay_lsn ?? null } : null,
    replication_state: r === 'replica' ? (s?.wal_receiver_status ?? null) : null,
    lag: lag && { bytes: lag.bytes, secs: lag.secs },
    fenced: f.fenced,
    term: f.term,
    primary_node_id: f.primaryNodeId,
    lease_held: r === 'primary' ? f.leaseHeld : null,
    failsafe: f.failsafe,
    last_check_ms_ago: f.lastTickMono === null ? null : Math.max(0, Math.round(nowMono - f.lastTickMono)),
    pgvigil: { version: f.version, cluster_id: f.clusterId, node_id: f.nodeId, node_name: f.nodeName },
  };
}

const ok = (yes: boolean): number => (yes ? 200 : 503);

/**
 * The answer to one read-only request. GET, HEAD and OPTIONS answer alike (HEAD and OPTIONS with no
 * body: HAProxy's `option httpchk OPTIONS /primary`); anything else is refused with a 4xx that says why.
 */
export function answer(req: ApiRequest, f: ApiFacts, nowMono: number): ApiAnswer {
  if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
    return { status: 405, body: { error: `method ${req.method} is not allowed on ${req.path}: the health endpoints answer GET, HEAD and OPTIONS` } };
  }
  if (!(HEALTH_PATHS as readonly string[]).includes(req.path)) {
    return { status: 404, body: { error: `unknown path ${req.path.slice(0, 128)}: the agent answers ${HEALTH_PATHS.join(', ')} (and POST /failsafe)` } };
  }
  const path = req.path as HealthPath;
  const unknown = [...req.query.keys()].filter((k) => k !== 'lag');
  if (unknown.length > 0) return { status: 400, body: { error: `unknown query parameter ${unknown[0]?.slice(0, 64)}: only lag= is understood` } };
  let bound: LagBound | undefined;
  const lagText = req.query.get('lag');
  if (lagText !== null) {
    const lag = parseLag(lagText);
    if (!lag.ok) return { status: 400, body: { error: lag.message } };
    bound = lag.bound;
  }
  const body = statusDocument(f, nowMono);
  const streaming = isStreamingReplica(f) && withinLag(f, bound);
  switch (path) {
    case '/':
    case '/primary':
    case '/read-write':
      return { status: ok(isWritablePrimary(f)), body };
    case '/replica':
      return { status: ok(streaming), body };
    case '/read-only':
      return { status: ok(isWritablePrimary(f) || streaming), body };
    case '/health':
      return { status: ok(f.server?.accepting_connections === true), body };
    case '/liveness':
      return { status: ok(f.lastTickMono !== null && nowMono - f.lastTickMono <= f.livenessMs), body };
    case '/readiness':
      // Patroni's rule: the primary, or a standby that is up (streaming or not) within the bound.
      return { status: ok(isWritablePrimary(f) || (role(f) === 'replica' && withinLag(f, bound))), body };
    case '/status':
    case '/patroni':
      return { status: 200, body };
  }
}
