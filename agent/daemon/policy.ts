/**
 * What the agent daemon decides, without doing any of it: when the lease is lost, how often and
 * how long the lease is renewed, whether a primary switches to asynchronous replication or back,
 * what a heartbeat reports and when it deserves the controller's attention. Nothing here reads a
 * clock or touches a file, a server or DynamoDB: times come in as arguments (monotonic ms for
 * durations, wall-clock ms for what is reported), so every rule is tested with plain numbers
 * (test/unit/agent-policy.test.ts). The daemon (daemon.ts) gathers the facts and acts.
 */
import { lsnDiff } from '../../core/lsn.js';
import { PROMOTING_OPERATIONS } from '../../core/engine/lease.js';
import type { ClusterRecord, NodeRecord, Reachability, ReplicationRow, ServerState } from '../../core/model.js';
import type { AgentConfig } from '../config.js';
import type { FenceMarker } from '../fence.js';
import type { LocalProbe } from '../pg/local.js';

// ---------------------------------------------------------------------------------------------
// The lease

/**
 * The lease's clock, derived from `lease_secs` (docs/agent.md, "Lease and fencing"). The fence
 * starts `fenceLeadMs` before the lease runs out, counted from when the last successful renewal
 * was sent; a renewal attempt starts every `renewEveryMs`, whether or not earlier ones have been
 * answered, and each is abandoned after `attemptLimitMs`.
 */
export interface LeaseTimings {
  leaseMs: number;
  /** The fence starts this long before the lease runs out: the server is stopped by then. */
  fenceLeadMs: number;
  /** A renewal attempt starts this often. */
  renewEveryMs: number;
  /** One attempt (the request, with whatever the SDK does) is abandoned after this long. */
  attemptLimitMs: number;
}

/**
 * The lease's clock for `lease_secs` (the figures behind it: docs/agent.md, "Lease and fencing").
 * - The fence starts 15 % of the lease early (a quarter of a lease under 2 s, at most 2 s): on a
 *   loaded 2-core machine a fence ends the server's writes within a tenth of a second of its start
 *   and pg_ctl returns within half a second.
 * - An attempt every eighth of the lease, each given a third (at most 5 s each): six attempts
 *   start between a success and the fence, and a slow answer is waited for rather than abandoned
 *   for a new request at the back of the endpoint's queue.
 */
export function leaseTimings(config: Pick<AgentConfig, 'lease_secs'>): LeaseTimings {
  const leaseMs = config.lease_secs * 1000;
  return {
    leaseMs,
    fenceLeadMs: Math.min(2000, Math.max(leaseMs * 0.15, Math.min(500, leaseMs / 4))),
    renewEveryMs: Math.min(5000, leaseMs / 8),
    attemptLimitMs: Math.min(5000, leaseMs / 3),
  };
}

/**
 * Something that keeps the lease standing from a moment on, as a successful renewal does: the
 * renewal itself, and any other promise that no other node is promoted for `lease_secs` after
 * `sinceMono` (a failsafe confirmation from every standby would be one).
 */
export interface LeaseGround {
  /** What it is, for the log and the fence's reason ("renewal" …). */
  source: string;
  /** Monotonic ms from which it holds: for a renewal, when the request was sent. */
  sinceMono: number;
}

export interface LeaseFacts {
  /** When the local server was first seen running as a primary; null while it is not one. */
  primarySinceMono: number | null;
  /** The latest ground of each source (renewal, …). */
  grounds: readonly LeaseGround[];
}

export type LeaseVerdict =
  | { state: 'not_primary' }
  | { state: 'held'; fenceAtMono: number; basis: string }
  | { state: 'lost'; heldForMs: number; why: string };

/**
 * The lease of a primary holds until `fenceLeadMs` before `lease_secs` have passed since its latest
 * ground (or since it became primary, when it has none yet). The controller counts the lease as
 * expired only `lease_secs` + `clock_skew_margin_ms` after it first saw the latest RVN, and it
 * cannot have seen it before the renewal was sent, so a server stopped by then is stopped in time.
 */
export function judgeLease(facts: LeaseFacts, timings: LeaseTimings, nowMono: number): LeaseVerdict {
  if (facts.primarySinceMono === null) return { state: 'not_primary' };
  let base = facts.primarySinceMono;
  let basis = 'the server became primary';
  for (const g of facts.grounds) {
    if (g.sinceMono > base) {
      base = g.sinceMono;
      basis = `the latest ${g.source}`;
    }
  }
  const fenceAtMono = base + timings.leaseMs - timings.fenceLeadMs;
  if (nowMono < fenceAtMono) return { state: 'held', fenceAtMono, basis };
  const heldForMs = nowMono - base;
  return { state: 'lost', heldForMs, why: `lease not renewed for ${(heldForMs / 1000).toFixed(1)} s (lease_secs=${timings.leaseMs / 1000}; counted from ${basis})` };
}

/**
 * The moment the lease watchdog (watchdog.ts) stops a server still running as a primary: half the
 * fence lead after the agent's own fence would have started, so a live agent always fences first
 * and the watchdog acts only for an agent that cannot (frozen, stalled) — still before
 * `lease_secs` has passed. `groundMono` is the lease's latest ground while the server is a primary
 * the agent knows of; otherwise (a standby, a stopped server, one promoted since the last tick)
 * the agent vouches from `nowMono`, as if now were a ground: a server promoted while its agent is
 * frozen is stopped by the same rule.
 */
export function watchdogDeadlineMono(groundMono: number | null, nowMono: number, timings: LeaseTimings): number {
  return (groundMono ?? nowMono) + timings.leaseMs - timings.fenceLeadMs / 2;
}

/** The part of the cluster record the lease renewal needs. */
export interface LeaseView {
  term: number;
  primaryNodeId: number | null;
  /** The candidate of the failover or switchover that claimed this term, if any. */
  candidateNodeId: number | null;
  version: number;
}

export function leaseView(cluster: Pick<ClusterRecord, 'term' | 'primary_node_id' | 'operation' | 'version'>): LeaseView {
  const op = cluster.operation;
  const promoting = op !== null && (PROMOTING_OPERATIONS as readonly string[]).includes(op.kind) && op.term === cluster.term;
  return { term: cluster.term, primaryNodeId: cluster.primary_node_id, candidateNodeId: promoting ? op.candidate_node_id : null, version: cluster.version };
}

/**
 * hg_repmgr's `node startup` rule: the cluster names another node as its primary, and no failover
 * or switchover of its term is promoting this one (the nodes that may hold the lease,
 * {@link mayRenewOn}). A node that a rejoin, follow or fence in flight acts on is superseded too:
 * that is exactly the former primary a controller starts again to rejoin it.
 */
export function superseded(cluster: Pick<ClusterRecord, 'term' | 'primary_node_id' | 'operation' | 'version'>, nodeId: number): boolean {
  return cluster.primary_node_id !== null && !mayRenewOn(leaseView(cluster), nodeId);
}

/**
 * Why a server must not run as a primary when it starts, or null when it may: it carries a fence
 * marker, or its cluster has been {@link superseded}. The sentence goes into the log and the event.
 */
export function startupFenceReason(
  marker: Pick<FenceMarker, 'reason' | 'term'> | undefined,
  cluster: Pick<ClusterRecord, 'term' | 'primary_node_id' | 'operation' | 'version'> | undefined,
  config: Pick<AgentConfig, 'cluster_id' | 'node_id'>,
): string | null {
  if (marker) return `it carries a fence marker (${marker.reason}, term ${marker.term})`;
  if (cluster && superseded(cluster, config.node_id)) return `cluster "${config.cluster_id}" has node ${cluster.primary_node_id} as primary at term ${cluster.term}`;
  return null;
}

/** May this node renew at the view's term (mayRenewLease, core/engine/lease.ts, on the view it last read)? */
export function mayRenewOn(view: LeaseView | null, nodeId: number): view is LeaseView {
  return view !== null && (view.primaryNodeId === nodeId || view.candidateNodeId === nodeId);
}

/** The later of two reads of the cluster record (a higher term, or the same term and a higher version). */
export function newerView(a: LeaseView | null, b: LeaseView | null): LeaseView | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.term !== b.term) return a.term > b.term ? a : b;
  return b.version >= a.version ? b : a;
}

// ---------------------------------------------------------------------------------------------
// The local server as the heartbeat reports it

/** The facts of a server that outlive a crash: identity, timeline, WAL positions, sync standbys. */
export function lastKnownFacts(prev: ServerState): Partial<LocalProbe> {
  const facts: Partial<LocalProbe> = {};
  if (prev.system_identifier !== null) facts.system_identifier = prev.system_identifier;
  if (prev.timeline !== null) facts.timeline = prev.timeline;
  if (prev.current_lsn !== null) facts.current_lsn = prev.current_lsn;
  if (prev.receive_lsn !== null) facts.receive_lsn = prev.receive_lsn;
  if (prev.replay_lsn !== null) facts.replay_lsn = prev.replay_lsn;
  if (prev.replication.length > 0) facts.replication = prev.replication;
  if (prev.synchronous_standby_names !== null) facts.synchronous_standby_names = prev.synchronous_standby_names;
  return facts;
}

/**
 * A server's timeline never goes back. A standby's is read partly from its WAL receiver
 * (received_tli): when the receiver is gone because its upstream crashed, only the checkpoint's
 * timeline is left, which stays on the old timeline until the next restartpoint. Reporting that
 * would make every standby that followed a new primary look "not on the cluster's timeline" at the
 * very moment a failover needs it, so the highest timeline reported for the same system is kept.
 */
export function steadyTimeline(now: Pick<LocalProbe, 'timeline' | 'system_identifier'>, before: ServerState | null): number | null {
  if (now.timeline === null || before?.timeline == null) return now.timeline;
  if (before.system_identifier === null || before.system_identifier !== now.system_identifier) return now.timeline;
  return Math.max(now.timeline, before.timeline);
}

/**
 * The server state a heartbeat reports from one probe. `prev` is this process's previous report;
 * `before` is the last report of the server at all (`prev`, or after a restart the heartbeat in
 * DynamoDB). While the server cannot answer, what it last said of its identity and position is
 * kept: the controller compares candidates against the failed primary's system identifier,
 * timeline, last LSN and synchronous standbys, so a crash must not erase them.
 */
export function serverState(probe: LocalProbe, prev: ServerState | null, before: ServerState | null, now: number, fenced: boolean): ServerState {
  const accepting = probe.accepting_connections;
  // Connected but the state query failed (timed out on a loaded host): nothing new was learned, and
  // losing the last known facts would leave the controller unable to compare standbys with this
  // primary (no system identifier, no timeline) should it fail next.
  const queried = accepting && probe.error === null;
  const known = queried || before === null ? probe : { ...probe, ...lastKnownFacts(before) };
  return {
    postmaster_running: probe.postmaster_running,
    accepting_connections: accepting,
    last_accepting_at: accepting ? now : (prev?.last_accepting_at ?? null),
    down_since: accepting ? null : (prev?.down_since ?? now),
    // A server that accepts connections keeps its role until we change it (promote, demote).
    in_recovery: accepting && !queried && probe.in_recovery === null ? (before?.in_recovery ?? null) : probe.in_recovery,
    system_identifier: known.system_identifier,
    timeline: steadyTimeline(known, before),
    current_lsn: known.current_lsn,
    receive_lsn: known.receive_lsn,
    replay_lsn: known.replay_lsn,
    wal_receiver_status: probe.wal_receiver_status,
    wal_receiver_upstream_node_id: probe.wal_receiver_upstream_node_id,
    not_streaming_since: notStreamingSince(probe, queried, prev, now),
    streaming_since: streamingSince(probe, queried, prev, now),
    replication: known.replication,
    synchronous_standby_names: known.synchronous_standby_names,
    data_directory_writable: probe.data_directory_writable,
    replication_lag_secs: probe.replication_lag_secs,
    pending_restart: probe.pending_restart,
    fenced,
  };
}

/**
 * How long a WAL receiver must report "streaming" without a break before a stretch without
 * streaming counts as over. A standby whose upstream's timeline forked before its own position
 * connects, reads the timeline history, and drops again, over and over (seen in a chaos campaign:
 * "streaming" for a second or a few, every few seconds, for minutes); each blip must not restart
 * the clock the controller's stranded-standby rule reads (docs/decision-engine.md, "Follow and
 * rejoin"). A standby that really streams switches to the primary's timeline long before this.
 */
export const STREAMING_SETTLE_MS = 30_000;

/**
 * Since when this standby has not been streaming: set when a running standby that answers is first
 * seen without a streaming WAL receiver, kept while that lasts (and while the server cannot be
 * asked, and through "streaming" blips shorter than {@link STREAMING_SETTLE_MS}), cleared once it
 * has streamed that long or is not a standby. The controller rejoins a standby left on an older
 * timeline than the primary's for too long (docs/decision-engine.md, "Follow and rejoin").
 */
export function notStreamingSince(probe: LocalProbe, queried: boolean, prev: ServerState | null, now: number): number | null {
  if (!queried) return probe.postmaster_running ? (prev?.not_streaming_since ?? null) : null;
  if (probe.in_recovery !== true) return null;
  if (probe.wal_receiver_status === 'streaming') {
    const since = streamingSince(probe, queried, prev, now) ?? now;
    return prev?.not_streaming_since != null && now - since < STREAMING_SETTLE_MS ? prev.not_streaming_since : null;
  }
  return prev?.not_streaming_since ?? now;
}

/** Since when this standby's WAL receiver has reported "streaming" without a break (kept while the server cannot be asked). */
export function streamingSince(probe: LocalProbe, queried: boolean, prev: ServerState | null, now: number): number | null {
  if (!queried) return probe.postmaster_running ? (prev?.streaming_since ?? null) : null;
  if (probe.in_recovery !== true || probe.wal_receiver_status !== 'streaming') return null;
  return prev?.streaming_since ?? now;
}

/** The local server answers as a primary (the only state in which the lease is renewed). */
export function runsAsPrimary(server: ServerState | null): boolean {
  return server !== null && server.accepting_connections && server.in_recovery === false;
}

/** What changed in the local server's availability since the previous report (repmgrd's events). */
export function localTransition(prev: ServerState | null, next: ServerState): 'disconnected' | 'reconnected' | null {
  if (prev?.accepting_connections && !next.accepting_connections) return 'disconnected';
  if (prev && !prev.accepting_connections && next.accepting_connections) return 'reconnected';
  return null;
}

// ---------------------------------------------------------------------------------------------
// The other nodes

export interface CheckResult {
  node: Pick<NodeRecord, 'node_id' | 'node_name'>;
  ok: boolean;
  detail: string;
}

export interface UpstreamChange {
  node: Pick<NodeRecord, 'node_id' | 'node_name'>;
  change: 'disconnected' | 'reconnected';
  detail: string;
}

/**
 * The reachability a heartbeat reports after one round of checks, and the upstream (or primary)
 * transitions that are events. A node's first check is never a "disconnect": nothing was lost.
 */
export function nextReachability(
  prev: ReadonlyMap<number, Reachability>,
  results: readonly CheckResult[],
  watched: ReadonlySet<number>,
  now: number,
): { reach: Map<number, Reachability>; changes: UpstreamChange[] } {
  const reach = new Map<number, Reachability>();
  const changes: UpstreamChange[] = [];
  for (const { node, ok, detail } of results) {
    const before = prev.get(node.node_id);
    reach.set(node.node_id, {
      node_id: node.node_id,
      ok,
      checked_at: now,
      last_ok_at: ok ? now : (before?.last_ok_at ?? null),
      failures: ok ? 0 : (before?.failures ?? 0) + 1,
    });
    if (!watched.has(node.node_id) || before === undefined) continue;
    if (before.ok && !ok) changes.push({ node, change: 'disconnected', detail });
    else if (!before.ok && ok) changes.push({ node, change: 'reconnected', detail });
  }
  return { reach, changes };
}

// ---------------------------------------------------------------------------------------------
// What the heartbeat says, and when it is written

/** The facts whose change makes a heartbeat due at once rather than at the next interval. */
export function signature(server: ServerState | null, reach: Iterable<Reachability>): string {
  const s = server;
  return JSON.stringify([
    s && [s.postmaster_running, s.accepting_connections, s.in_recovery, s.timeline, s.wal_receiver_status, s.wal_receiver_upstream_node_id, s.fenced, s.data_directory_writable, s.synchronous_standby_names, s.replication.map((r) => [r.application_name, r.state, r.sync_state])],
    [...reach].map((r) => [r.node_id, r.ok]),
  ]);
}

/** Something in this heartbeat can change a decision: the stream filter lets it through. */
export function attention(
  server: ServerState | null,
  reach: Iterable<Reachability>,
  me: Pick<NodeRecord, 'type'> | undefined,
  cluster: Pick<ClusterRecord, 'primary_node_id'> | undefined,
  nodeId: number,
): boolean {
  const s = server;
  if (s && (!s.postmaster_running || !s.accepting_connections || s.fenced || s.data_directory_writable === false)) return true;
  if ([...reach].some((r) => !r.ok)) return true;
  if (s && me && s.in_recovery !== null && (me.type === 'primary') === s.in_recovery) return true;
  if (s && cluster && s.in_recovery === false && cluster.primary_node_id !== nodeId) return true;
  return false;
}

/** A heartbeat is due when what it reports changed or the interval has passed since the last one. */
export function heartbeatDue(sig: string, lastSignature: string, nowMono: number, lastWriteMono: number, intervalMs: number): boolean {
  return sig !== lastSignature || nowMono - lastWriteMono >= intervalMs;
}

/**
 * The publisher's next backoff after a failed write: doubling from 500 ms, capped at a quarter of
 * the lease (at least 1 s) on a primary, whose heartbeats the controller watches most closely, and
 * at 30 s elsewhere.
 */
export function nextBackoffMs(previousMs: number, primary: boolean, leaseMs: number): number {
  const cap = primary ? Math.max(1000, leaseMs / 4) : 30_000;
  return Math.min(cap, previousMs === 0 ? 500 : previousMs * 2);
}

/** repmgr's monitoring_history sample of a standby: its lag behind the primary's last reported LSN. */
export function replicationLag(primaryLsn: string | null, server: Pick<ServerState, 'receive_lsn' | 'replay_lsn'>): { replication_lag: number | null; apply_lag: number | null } {
  const s = server;
  return {
    replication_lag: primaryLsn && s.receive_lsn ? Math.max(0, Number(lsnDiff(primaryLsn, s.receive_lsn))) : null,
    apply_lag: s.receive_lsn && s.replay_lsn ? Math.max(0, Number(lsnDiff(s.receive_lsn, s.replay_lsn))) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Synchronous replication: hg_repmgr's downgrade, and the way back

/** Standby names in a synchronous_standby_names value (`FIRST 1 (a, "b")`, `ANY 2 (a,b)`, `a, b`, `*`). */
export function syncStandbyNames(value: string): string[] {
  const inner = /\(([^)]*)\)/.exec(value)?.[1] ?? value;
  return inner
    .split(',')
    .map((n) => n.trim().replace(/^"(.*)"$/, '$1'))
    .filter((n) => n !== '');
}

/** Has a standby named in `names` caught up (streaming, flushed within `maxLagBytes`)? */
export function caughtUp(rows: readonly ReplicationRow[], names: readonly string[], currentLsn: string | null, maxLagBytes = 1024 * 1024): boolean {
  return rows.some(
    (r) =>
      r.state === 'streaming' &&
      (names.includes('*') || names.includes(r.application_name)) &&
      r.flush_lsn !== null &&
      (currentLsn === null || lsnDiff(currentLsn, r.flush_lsn) <= BigInt(maxLagBytes)),
  );
}

/** Per synchronous standby (application_name): the flush LSN last seen, and since when it stands (agent monotonic clock). */
export type SyncProgress = ReadonlyMap<string, { flush: string | null; sinceMono: number }>;

/**
 * Which synchronous standbys acknowledge commits: connected as `sync`/`quorum` and either caught up
 * with the primary's current LSN or flushing further within `stallMs`. A frozen standby (its
 * processes stopped, its host hung) stays connected until `wal_sender_timeout` while acknowledging
 * nothing, and every commit waits on it meanwhile; connected is not enough. Returns the progress to
 * keep for the next tick and, when none acknowledges, since when none has (the latest stand still).
 */
export function syncAcknowledgement(
  rows: readonly ReplicationRow[],
  currentLsn: string | null,
  prev: SyncProgress,
  nowMono: number,
  stallMs: number,
): { acknowledging: number; lastAckMono: number | null; progress: SyncProgress } {
  const progress = new Map<string, { flush: string | null; sinceMono: number }>();
  let acknowledging = 0;
  let lastAckMono: number | null = null;
  for (const r of rows) {
    if (r.sync_state !== 'sync' && r.sync_state !== 'quorum') continue;
    const before = prev.get(r.application_name);
    const caught = currentLsn !== null && r.flush_lsn !== null && lsnDiff(currentLsn, r.flush_lsn) <= 0n;
    const sinceMono = caught || before === undefined || before.flush !== r.flush_lsn ? nowMono : before.sinceMono;
    progress.set(r.application_name, { flush: r.flush_lsn, sinceMono });
    if (nowMono - sinceMono < stallMs) acknowledging += 1;
    lastAckMono = Math.max(lastAckMono ?? sinceMono, sinceMono);
  }
  return { acknowledging, lastAckMono, progress };
}

export interface SyncFacts {
  server: ServerState | null;
  fenced: boolean;
  /** The setting saved when replication was switched to asynchronous; undefined when it was not. */
  saved: string | undefined;
  /** The server left recovery on the tick that gathered these facts (a promotion). */
  justPromoted: boolean;
  /** Since when no synchronous standby has been acknowledging, null when one is (or not a primary). */
  noSyncSinceMono: number | null;
  /** What {@link syncAcknowledgement} kept at the previous tick. */
  progress: SyncProgress;
  nowMono: number;
  downgradeAfterMs: number;
}

type SyncState = { noSyncSinceMono: number | null; progress: SyncProgress };
export type SyncDecision =
  | ({ action: 'none' } & SyncState)
  | ({ action: 'restore'; names: string } & SyncState)
  | ({ action: 'downgrade'; names: string; justPromoted: boolean } & SyncState);

const NO_PROGRESS: SyncProgress = new Map();

/**
 * A primary whose synchronous standbys have all been gone — disconnected, or connected but
 * acknowledging nothing (frozen) — for `sync_downgrade_after_secs` switches to asynchronous
 * replication so writes stop hanging, and switches back once a standby named in the saved setting
 * is streaming and caught up.
 */
export function judgeSync(f: SyncFacts): SyncDecision {
  const s = f.server;
  if (!s?.accepting_connections || s.in_recovery !== false || f.fenced) return { action: 'none', noSyncSinceMono: null, progress: NO_PROGRESS };
  if (f.saved !== undefined) {
    if (caughtUp(s.replication, syncStandbyNames(f.saved), s.current_lsn)) return { action: 'restore', names: f.saved, noSyncSinceMono: null, progress: NO_PROGRESS };
    return { action: 'none', noSyncSinceMono: f.noSyncSinceMono, progress: NO_PROGRESS };
  }
  const names = s.synchronous_standby_names ?? '';
  if (names === '') return { action: 'none', noSyncSinceMono: null, progress: NO_PROGRESS };
  const ack = syncAcknowledgement(s.replication, s.current_lsn, f.progress, f.nowMono, f.downgradeAfterMs);
  if (ack.acknowledging > 0) return { action: 'none', noSyncSinceMono: null, progress: ack.progress };
  const since = f.noSyncSinceMono ?? ack.lastAckMono ?? f.nowMono;
  // A server that has just been promoted has no standby following it yet by construction (they
  // follow it after the Elastic IP moves): waiting sync_downgrade_after_secs would only hold
  // every write of the new primary until the first follower is back. The operator has accepted
  // asynchronous replication while no synchronous standby is connected; the promoted candidate
  // was itself synchronous, so every write acknowledged before the failover is on it.
  if (!f.justPromoted && f.nowMono - since < f.downgradeAfterMs) return { action: 'none', noSyncSinceMono: since, progress: ack.progress };
  return { action: 'downgrade', names, justPromoted: f.justPromoted, noSyncSinceMono: null, progress: NO_PROGRESS };
}
