/**
 * Freshness (docs/decision-engine.md): which heartbeats the engine may use as evidence, judged on the controller's
 * clock with the `clock_skew_margin_ms` allowance. Also the small formatting helpers every engine
 * module uses to write its reasons, so sentences read the same everywhere.
 */
import type { ClusterSettings, ClusterSnapshot, Heartbeat, NodeRecord, Reachability, ServerState } from '../model.js';

/** One registered node together with what the engine may believe about it. */
export interface NodeView {
  node: NodeRecord;
  /** The node's latest heartbeat (highest seq), whether or not it is fresh; null when none. */
  heartbeat: Heartbeat | null;
  /** Sent within `node_timeout_secs` of controller time (allowing the margin) and not from the future. */
  fresh: boolean;
  /** Sent further in the future than `clock_skew_margin_ms`: the node's clock is wrong, its evidence unused. */
  skewed: boolean;
  /** Controller time minus send time (negative: from the future); null without a heartbeat. */
  age_ms: number | null;
  /**
   * The server state the engine may use as *current* evidence: the fresh heartbeat's server, else
   * null. Identity facts of a stale node (system identifier, timeline, last LSN) are read from
   * {@link NodeView.heartbeat} instead; they do not depend on anyone's clock.
   */
  server: ServerState | null;
}

export interface EngineContext {
  snapshot: ClusterSnapshot;
  now: number;
  settings: ClusterSettings;
  /** `clock_skew_margin_ms`. */
  margin: number;
  /** `node_timeout_secs` in milliseconds. */
  timeoutMs: number;
  /** Every registered node, ordered by node_id (the first record wins for a duplicated id). */
  views: NodeView[];
  byId: ReadonlyMap<number, NodeView>;
  /** The term's primary (cluster.primary_node_id), or null when none is recorded or registered. */
  primary: NodeView | null;
}

/**
 * Builds the engine's view of a snapshot. Heartbeats of another cluster or of an unregistered node
 * are ignored (the store already rejected malformed ones); when a node has several heartbeats, the
 * one with the highest `seq` (then the latest `sent_at`) is its latest.
 */
export function buildContext(snapshot: ClusterSnapshot, now: number): EngineContext {
  const settings = snapshot.cluster.settings;
  const margin = settings.clock_skew_margin_ms;
  const timeoutMs = settings.node_timeout_secs * 1000;
  const latest = new Map<number, Heartbeat>();
  for (const hb of snapshot.heartbeats) {
    if (hb.cluster_id !== snapshot.cluster.cluster_id) continue;
    const seen = latest.get(hb.node_id);
    if (!seen || hb.seq > seen.seq || (hb.seq === seen.seq && hb.sent_at > seen.sent_at)) latest.set(hb.node_id, hb);
  }
  const byId = new Map<number, NodeView>();
  for (const node of snapshot.nodes) {
    if (node.cluster_id !== snapshot.cluster.cluster_id || byId.has(node.node_id)) continue;
    const heartbeat = latest.get(node.node_id) ?? null;
    const age = heartbeat ? now - heartbeat.sent_at : null;
    const skewed = age !== null && age < -margin;
    const fresh = age !== null && !skewed && age <= timeoutMs + margin;
    byId.set(node.node_id, { node, heartbeat, fresh, skewed, age_ms: age, server: fresh ? (heartbeat?.server ?? null) : null });
  }
  const views = [...byId.values()].sort((a, b) => a.node.node_id - b.node.node_id);
  const pid = snapshot.cluster.primary_node_id;
  return { snapshot, now, settings, margin, timeoutMs, views, byId, primary: pid === null ? null : (byId.get(pid) ?? null) };
}

/**
 * What a fresh node last reported about `target` (latest check when listed twice); null when the
 * node is not fresh or has no such check. Stale or skewed observers are no evidence.
 */
export function reachabilityOf(view: NodeView, targetId: number): Reachability | null {
  if (!view.fresh || !view.heartbeat) return null;
  let best: Reachability | null = null;
  for (const r of view.heartbeat.reachability) {
    if (r.node_id === targetId && (best === null || r.checked_at > best.checked_at)) best = r;
  }
  return best;
}

/** Why a node's heartbeat is not usable, in words; null when it is fresh. */
export function staleness(view: NodeView, ctx: EngineContext): string | null {
  if (view.fresh) return null;
  if (!view.heartbeat || view.age_ms === null) return 'has never sent a heartbeat';
  if (view.skewed) {
    return `sent a heartbeat ${formatDuration(-view.age_ms)} in the future (beyond clock_skew_margin_ms=${ctx.margin}): its clock is wrong and its evidence is not used`;
  }
  return `last sent a heartbeat ${formatDuration(view.age_ms)} ago (node_timeout_secs=${ctx.settings.node_timeout_secs})`;
}

export function label(node: NodeRecord): string {
  return `node ${node.node_id} (${node.node_name})`;
}

/** "2.5 s", "45 s", "3 min 20 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'an unknown time';
  const s = Math.abs(ms) / 1000;
  if (s < 10) return `${Math.round(s * 10) / 10} s`;
  if (s < 120) return `${Math.round(s)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** ISO-8601 time, or the raw number when it is outside what a Date can hold. */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `${ms} ms`;
  return new Date(ms).toISOString();
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
