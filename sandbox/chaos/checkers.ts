/**
 * The chaos campaign's checkers (docs/drills.md, "The chaos campaign"): Jepsen-style, they judge the
 * recorded history after the fact — which writes were acknowledged and which survived, which nodes
 * accepted writes when, what the VIP pointed at, what each node said about itself, what the event
 * log says — never the operations' own reports. Pure: the history comes in, the verdict goes out.
 */
import { maxWritablePrimaries, type ProbeAck, type WriteAttempt } from '../writers.js';
import type { FaultType, PlannedFault } from './schedule.js';

/** A node as it described itself (its own server, through its Unix socket). */
export type NodeView = 'primary' | 'standby_streaming' | 'standby' | 'down';

export interface NodeSample {
  at: number;
  /** PostgreSQL node name → its view; missing = not asked. */
  nodes: Record<string, NodeView>;
}

export interface ClusterSample {
  at: number;
  term: number;
  primary: string | null;
  /** The operation in progress (`failover`, `switchover` …), or null. */
  operation: string | null;
  paused: boolean;
}

export interface VipSample {
  at: number;
  /** The node the Elastic IP forwards to, or null. */
  target: string | null;
}

/** An event of the cluster's event log (with the node's name). */
export interface LoggedEvent {
  at: number;
  node: string;
  event: string;
  successful: boolean;
  details: string;
}

/** A fault as it was injected: where it landed, when, and what it justifies. */
export interface InjectedFault {
  planned: PlannedFault;
  /** One line: type, target, parameters. */
  description: string;
  /** The nodes the fault was put on (empty for cluster-wide faults). */
  targets: string[];
  injectedAt: number;
  /** When it was healed (null: never, the campaign was aborted). */
  healedAt: number | null;
  /** The end of its window: the next fault's injection, or the campaign's end. */
  windowEnd: number;
  /** Fences of these nodes in [injectedAt, healedAt + grace] are justified by this fault, and why. */
  justifies: { nodes: string[]; why: string } | null;
  /** The controller could not act while it was held (its process stopped, AWS out of its reach). */
  blocksController: boolean;
  /** What the campaign did and saw (switchover outcome, repair …). */
  notes: string[];
  /**
   * The campaign repaired the cluster as an operator would (rejoined nodes pgvigil left behind) at
   * this time, because it had not recovered by itself; what follows in the window is not judged.
   */
  repairedAt?: number | null;
}

export interface CampaignHistory {
  seed: number;
  startedAt: number;
  endedAt: number;
  leaseMs: number;
  /**
   * The cluster's operation window (docs/controller.md, "Operations never blind the engine"): how
   * long one step of an operation may keep the cluster without a writable primary. Absent in
   * histories recorded before it was kept: no operation then excuses a stretch without a primary.
   */
  operationWindowMs?: number;
  /** The PostgreSQL nodes. */
  nodes: string[];
  faults: InjectedFault[];
  /** The writer through the Elastic IP. */
  writes: WriteAttempt[];
  /** The writability probe of every node. */
  probes: ProbeAck[];
  cluster: ClusterSample[];
  vip: VipSample[];
  nodeSamples: NodeSample[];
  events: LoggedEvent[];
  /** Acknowledged VIP writes the final primary does not have; null when it could not be asked. */
  lostWrites: number[] | null;
  /** Why lostWrites is null. */
  lostWritesError?: string;
}

export type ViolationKind =
  | 'acked_writes_lost'
  | 'writes_unchecked'
  | 'two_writable_primaries'
  | 'no_primary_after_heal'
  | 'stuck_idle'
  | 'not_streaming_after_heal'
  | 'needless_fence';

export interface Violation {
  kind: ViolationKind;
  /** The fault window it happened in (its index), or null before the first fault. */
  window: number | null;
  at: number;
  message: string;
}

export interface WindowFigures {
  index: number;
  type: FaultType;
  description: string;
  targets: string[];
  injected_at_ms: number;
  healed_at_ms: number | null;
  /** From the heal to the first write acknowledged through the VIP. */
  writable_after_heal_ms: number | null;
  /** The longest time without an acknowledged VIP write from the heal to the window's end. */
  longest_outage_after_heal_ms: number | null;
  /** From the heal until every node is the primary (behind the VIP) or a streaming standby. */
  streaming_after_heal_ms: number | null;
  fences: number;
  repaired: boolean;
  violations: Violation[];
}

export interface Verdict {
  ok: boolean;
  violations: Violation[];
  windows: WindowFigures[];
  figures: {
    faults_injected: Record<string, number>;
    failovers: number;
    switchovers: number;
    promotions: number;
    max_writable_primaries: number;
    acked_writes: number;
    acked_writes_lost: number | null;
    longest_no_primary_after_heal_ms: number;
    longest_streaming_after_heal_ms: number | null;
    stuck_states: number;
    fences: number;
    needless_fences: number;
    repairs: number;
  };
}

export interface CheckOptions {
  /** No writable primary behind the EIP for longer than this after a heal is a stuck state. @default leaseMs + 10 s */
  stuckAfterMs?: number;
  /** Every node streaming again within this after a heal. @default 120 s */
  streamingWithinMs?: number;
  /** A fault justifies fences this long after its heal too. @default leaseMs + 10 s */
  fenceGraceMs?: number;
  /** Fence events of one node this close together are one fence (farther apart too, unless the node was healthy in between). @default 15 s */
  fenceGroupMs?: number;
}

/** The events that say a node was fenced. */
export const FENCE_EVENTS = new Set(['lease_lost', 'fence_applied']);

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The acknowledgement times of the writes, sorted. */
function ackTimes(writes: readonly WriteAttempt[]): number[] {
  return writes
    .map((w) => w.ackedAt)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
}

/** The first acknowledgement at or after `from`, or null. */
function firstAckFrom(acks: readonly number[], from: number, to: number): number | null {
  for (const t of acks) if (t >= from) return t <= to ? t : null;
  return null;
}

/**
 * The longest time without an acknowledged write in [from, to], counting the gap that straddles
 * `from` from `from` (what happened before the heal is the fault's, not the recovery's).
 */
export function longestGap(acks: readonly number[], from: number, to: number): number {
  let previous = from;
  let longest = 0;
  for (const t of acks) {
    if (t < from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return Math.max(longest, to - previous);
}

/** Intervals [start, end] of at least `minMs` with no acknowledgement inside [from, to]. */
export function gapsWithoutAck(acks: readonly number[], from: number, to: number, minMs: number): [number, number][] {
  const gaps: [number, number][] = [];
  let previous = from;
  for (const t of acks) {
    if (t < from) continue;
    if (t > to) break;
    if (t - previous >= minMs) gaps.push([previous, t]);
    previous = t;
  }
  if (to - previous >= minMs) gaps.push([previous, to]);
  return gaps;
}

/** True when the sample shows a healthy cluster: one primary behind the VIP, every other node streaming. */
export function allStreaming(sample: NodeSample, nodes: readonly string[], vipTarget: string | null): boolean {
  const primaries = nodes.filter((n) => sample.nodes[n] === 'primary');
  if (primaries.length !== 1 || primaries[0] !== vipTarget) return false;
  return nodes.every((n) => n === primaries[0] || sample.nodes[n] === 'standby_streaming');
}

/** The VIP target at time t (the last sample at or before it). */
function vipAt(vip: readonly VipSample[], t: number): string | null {
  let target: string | null = null;
  for (const s of vip) {
    if (s.at > t) break;
    target = s.target;
  }
  return target;
}

/** The fault windows that contain t (injected at or before t, window not yet ended). */
function windowOf(faults: readonly InjectedFault[], t: number): InjectedFault | undefined {
  let found: InjectedFault | undefined;
  for (const f of faults) if (f.injectedAt <= t) found = f;
  return found;
}

/** Intervals minus the union of `holes` (all closed intervals). */
function subtract(intervals: [number, number][], holes: [number, number][]): [number, number][] {
  let out = intervals;
  for (const [hs, he] of holes) {
    const next: [number, number][] = [];
    for (const [s, e] of out) {
      if (he <= s || hs >= e) {
        next.push([s, e]);
        continue;
      }
      if (hs > s) next.push([s, hs]);
      if (he < e) next.push([he, e]);
    }
    out = next;
  }
  return out;
}

/**
 * The periods the cluster samples say an operation was in progress — paused or not, since a
 * switchover pauses the cluster while it runs — each cut at `windowMs` after the operation began:
 * an operation may hold the cluster without a writable primary only that long before the engine
 * ends it, so a longer stretch is a stuck state all the same.
 */
function operationPeriods(cluster: readonly ClusterSample[], end: number, windowMs: number): [number, number][] {
  const periods: [number, number][] = [];
  let began: number | null = null;
  for (let i = 0; i < cluster.length; i++) {
    const s = cluster[i] as ClusterSample;
    const prev = cluster[i - 1];
    if (s.operation === null) {
      began = null;
      continue;
    }
    if (began === null || prev?.operation !== s.operation) began = s.at;
    const until = Math.min(cluster[i + 1]?.at ?? end, began + windowMs);
    if (until > s.at) periods.push([s.at, until]);
  }
  return periods;
}

/** Judges a campaign's history. */
export function checkHistory(h: CampaignHistory, options: CheckOptions = {}): Verdict {
  const stuckAfterMs = options.stuckAfterMs ?? h.leaseMs + 10_000;
  const streamingWithinMs = options.streamingWithinMs ?? 120_000;
  const graceMs = options.fenceGraceMs ?? h.leaseMs + 10_000;
  const groupMs = options.fenceGroupMs ?? 15_000;
  const rel = (t: number): string => `+${sec(t - h.startedAt)}`;
  const violations: Violation[] = [];
  const add = (kind: ViolationKind, at: number, message: string, window?: number): void => {
    violations.push({ kind, window: window ?? windowOf(h.faults, at)?.planned.index ?? null, at, message });
  };
  const acks = ackTimes(h.writes);

  // Acknowledged writes that did not survive.
  if (h.lostWrites === null) add('writes_unchecked', h.endedAt, `the acknowledged writes could not be checked on the final primary: ${h.lostWritesError ?? 'no writable primary at the end'}`);
  else if (h.lostWrites.length > 0) {
    const byId = new Map(h.writes.map((w) => [w.id, w]));
    const first = h.lostWrites.map((id) => byId.get(id)?.ackedAt ?? h.endedAt).sort((a, b) => a - b)[0] ?? h.endedAt;
    add('acked_writes_lost', first, `${h.lostWrites.length} acknowledged write${h.lostWrites.length === 1 ? '' : 's'} through the VIP missing on the final primary (ids ${h.lostWrites.slice(0, 10).join(', ')}${h.lostWrites.length > 10 ? ' …' : ''}; the first acknowledged at ${rel(first)})`);
  }

  // Never two writable primaries.
  const overlap = maxWritablePrimaries(h.probes);
  if (overlap.count > 1) {
    const proof = overlap.evidence.map((a) => `${a.node} [${rel(Math.max(a.sentAt, a.serverAt ?? a.sentAt))} … ${rel(a.ackedAt)}]`).join(', ');
    add('two_writable_primaries', overlap.at ?? h.startedAt, `${overlap.count} nodes acknowledged writes in overlapping moments: ${proof}`);
  }

  // Fences, each justified by a fault or needless.
  const fenceEvents = h.events.filter((e) => FENCE_EVENTS.has(e.event) && (e.successful || e.event === 'lease_lost')).sort((a, b) => a.at - b.at);
  // One fence per incident: a node's later fence events belong to the same fence (the
  // controller confirming a self-fence, say) unless the node was seen healthy in between.
  const fences: LoggedEvent[] = [];
  const lastFence = new Map<string, number>();
  const healthyBetween = (node: string, from: number, to: number): boolean =>
    h.nodeSamples.some((x) => x.at > from && x.at < to && (x.nodes[node] === 'primary' || x.nodes[node] === 'standby_streaming'));
  for (const e of fenceEvents) {
    const last = lastFence.get(e.node);
    lastFence.set(e.node, e.at);
    if (last !== undefined && (e.at - last < groupMs || !healthyBetween(e.node, last, e.at))) continue;
    fences.push(e);
  }
  let needless = 0;
  for (const fence of fences) {
    const justified = h.faults.some((f) => f.justifies?.nodes.includes(fence.node) && f.injectedAt <= fence.at && fence.at <= (f.healedAt ?? h.endedAt) + graceMs);
    if (justified) continue;
    needless += 1;
    const active = h.faults.filter((f) => f.injectedAt <= fence.at && fence.at <= (f.healedAt ?? h.endedAt) + graceMs).map((f) => `#${f.planned.index} ${f.description}`);
    add('needless_fence', fence.at, `${fence.node} fenced at ${rel(fence.at)} (${fence.event}: ${fence.details}) and no injected fault justifies it${active.length ? `; faults then: ${active.join('; ')}` : '; no fault was active'}`);
  }

  // Per window: recovery after the heal.
  const windows: WindowFigures[] = [];
  let longestNoPrimary = 0;
  let longestStreaming: number | null = 0;
  for (const f of h.faults) {
    const before = violations.length;
    const end = f.repairedAt ?? f.windowEnd;
    let writable: number | null = null;
    let outage: number | null = null;
    let streaming: number | null = null;
    if (f.healedAt !== null) {
      const first = firstAckFrom(acks, f.healedAt, end);
      writable = first === null ? null : first - f.healedAt;
      outage = longestGap(acks, f.healedAt, end);
      longestNoPrimary = Math.max(longestNoPrimary, outage);
      if (outage > stuckAfterMs) {
        const gap = gapsWithoutAck(acks, f.healedAt, end, stuckAfterMs)[0];
        add('no_primary_after_heal', gap?.[0] ?? f.healedAt, `no write acknowledged through the VIP for ${sec(outage)} after the heal of #${f.planned.index} (${gap ? `${rel(gap[0])} … ${rel(gap[1])}` : ''}; the bound is lease_secs + 10 s = ${sec(stuckAfterMs)})`, f.planned.index);
      }
      const healthy = h.nodeSamples.find((s) => s.at >= (f.healedAt as number) && s.at <= end && allStreaming(s, h.nodes, vipAt(h.vip, s.at)));
      streaming = healthy ? healthy.at - f.healedAt : null;
      if (streaming !== null && longestStreaming !== null) longestStreaming = Math.max(longestStreaming, streaming);
      if (streaming === null || streaming > streamingWithinMs) {
        longestStreaming = null;
        const last = [...h.nodeSamples].reverse().find((s) => s.at <= end);
        const state = last ? h.nodes.map((n) => `${n} ${last.nodes[n] ?? '?'}`).join(', ') : 'no sample';
        add('not_streaming_after_heal', f.healedAt + streamingWithinMs, `not every node was the primary or a streaming standby within ${sec(streamingWithinMs)} of the heal of #${f.planned.index}${streaming !== null ? ` (after ${sec(streaming)})` : ` (at ${rel(end)}: ${state})`}`, f.planned.index);
      }
    }
    windows.push({
      index: f.planned.index,
      type: f.planned.type,
      description: f.description,
      targets: f.targets,
      injected_at_ms: f.injectedAt - h.startedAt,
      healed_at_ms: f.healedAt === null ? null : f.healedAt - h.startedAt,
      writable_after_heal_ms: writable,
      longest_outage_after_heal_ms: outage,
      streaming_after_heal_ms: streaming,
      fences: fences.filter((e) => e.at >= f.injectedAt && e.at < f.windowEnd).length,
      repaired: f.repairedAt != null,
      violations: violations.slice(before),
    });
  }

  // The controller idle while the cluster has no primary: a stretch without acknowledged writes,
  // no operation in progress, and nothing keeping the controller from acting.
  const blocked: [number, number][] = h.faults.filter((f) => f.blocksController).map((f) => [f.injectedAt, (f.healedAt ?? h.endedAt) + graceMs]);
  const repairs: [number, number][] = h.faults.filter((f) => f.repairedAt != null).map((f) => [f.repairedAt as number, f.windowEnd]);
  const operations = operationPeriods(h.cluster, h.endedAt, h.operationWindowMs ?? 0);
  const idle = subtract(subtract(subtract(gapsWithoutAck(acks, h.startedAt, h.endedAt, stuckAfterMs), operations), blocked), repairs);
  for (const [s, e] of idle) {
    if (e - s < stuckAfterMs) continue;
    const inEffect = h.cluster.filter((c, i) => c.at <= e && (h.cluster[i + 1]?.at ?? Infinity) > s);
    const paused = inEffect.some((c) => c.paused);
    const op = inEffect.find((c) => c.operation !== null)?.operation;
    const why = op ? `with a ${op} in progress for longer than the operation window (${sec(h.operationWindowMs ?? 0)})` : 'with no operation in progress';
    add('stuck_idle', s, `no writable primary behind the VIP for ${sec(e - s)} (${rel(s)} … ${rel(e)}) ${why}${paused ? ' (the cluster was paused)' : ''} and nothing keeping the controller from acting`);
  }
  for (const w of windows) w.violations = violations.filter((v) => v.window === w.index);

  violations.sort((a, b) => a.at - b.at);
  const injected: Record<string, number> = {};
  for (const f of h.faults) injected[f.planned.type] = (injected[f.planned.type] ?? 0) + 1;
  const promotion = /promoted to primary of term \d+/;
  return {
    ok: violations.length === 0,
    violations,
    windows,
    figures: {
      faults_injected: injected,
      failovers: h.events.filter((e) => e.event === 'failover_started').length,
      switchovers: h.events.filter((e) => e.event === 'switchover_started').length,
      promotions: h.events.filter((e) => e.successful && (e.event === 'repmgrd_failover_promote' || e.event === 'standby_promote') && promotion.test(e.details)).length,
      max_writable_primaries: overlap.count,
      acked_writes: acks.length,
      acked_writes_lost: h.lostWrites === null ? null : h.lostWrites.length,
      longest_no_primary_after_heal_ms: longestNoPrimary,
      longest_streaming_after_heal_ms: longestStreaming,
      stuck_states: violations.filter((v) => v.kind === 'no_primary_after_heal' || v.kind === 'stuck_idle').length,
      fences: fences.length,
      needless_fences: needless,
      repairs: h.faults.filter((f) => f.repairedAt != null).length,
    },
  };
}

/** What happened in one fault's window, line by line, from the campaign's start (the failing window's story). */
export function windowTimeline(h: CampaignHistory, index: number, leadMs = 2000): string[] {
  const f = h.faults.find((x) => x.planned.index === index);
  if (!f) return [];
  const from = f.injectedAt - leadMs;
  const to = f.windowEnd;
  const rel = (t: number): string => `+${sec(t - h.startedAt).padStart(8)}`;
  const lines: { at: number; text: string }[] = [];
  lines.push({ at: f.injectedAt, text: `FAULT #${f.planned.index} injected: ${f.description}` });
  if (f.healedAt !== null) lines.push({ at: f.healedAt, text: `FAULT #${f.planned.index} healed` });
  if (f.repairedAt != null) lines.push({ at: f.repairedAt, text: 'campaign: repairing the cluster as an operator would (it had not recovered by itself)' });
  for (const e of h.events) if (e.at >= from && e.at <= to) lines.push({ at: e.at, text: `event ${e.node} ${e.event}${e.successful ? '' : ' (failed)'}: ${e.details.slice(0, 240)}` });
  let vip: string | null | undefined;
  for (const s of h.vip) {
    if (s.at > to) break;
    if (s.target !== vip && s.at >= from) lines.push({ at: s.at, text: `VIP → ${s.target ?? 'nothing'}` });
    vip = s.target;
  }
  let cluster = '';
  for (const s of h.cluster) {
    if (s.at > to) break;
    const text = `cluster: term ${s.term}, primary ${s.primary ?? '-'}, operation ${s.operation ?? 'none'}${s.paused ? ', PAUSED' : ''}`;
    if (text !== cluster && s.at >= from) lines.push({ at: s.at, text });
    cluster = text;
  }
  let nodes = '';
  for (const s of h.nodeSamples) {
    if (s.at > to) break;
    const text = `nodes: ${h.nodes.map((n) => `${n} ${s.nodes[n] ?? '?'}`).join(', ')}`;
    if (text !== nodes && s.at >= from) lines.push({ at: s.at, text });
    nodes = text;
  }
  for (const [s, e] of gapsWithoutAck(ackTimes(h.writes), from, to, 1000)) lines.push({ at: s, text: `writes: none acknowledged through the VIP for ${sec(e - s)} (until ${rel(e).trim()})` });
  const story = lines.sort((a, b) => a.at - b.at).map((l) => `${rel(l.at)}  ${l.text}`);
  // What the campaign did and saw during the window (injection details, switchover answers, repairs).
  return [...story, ...f.notes.map((note) => `           note: ${note}`)];
}
