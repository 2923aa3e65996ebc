/**
 * Decisions about the shape of a cluster whose primary stands: split brain, standbys following the
 * wrong upstream, fenced former primaries coming back (docs/decision-engine.md, docs/controller.md).
 */
import type { Action, DecisionEvent } from '../decision.js';
import type { ServerState } from '../model.js';
import { formatDuration, label, type EngineContext, type NodeView } from './freshness.js';

export interface Finding {
  actions: Action[];
  reasons: string[];
  events: DecisionEvent[];
}

/**
 * A second fresh node whose server runs and is not in recovery: two servers accept writes. The
 * term's primary is kept (it holds the Elastic IP and the lease); the other one is fenced at once.
 * A node registered as a primary, or one the controller already fenced, is a *superseded* primary
 * coming back writable; any other is a standby that was promoted behind the controller's back.
 * Witnesses run their own standalone PostgreSQL (as in repmgr) and are never intruders.
 */
export function findIntruders(ctx: EngineContext, primary: NodeView): Finding {
  const out: Finding = { actions: [], reasons: [], events: [] };
  for (const v of ctx.views) {
    if (v === primary || v.node.type === 'witness') continue;
    const s = v.server;
    if (!s || !s.postmaster_running || s.in_recovery !== false || s.fenced) continue;
    const superseded = v.node.type === 'primary' || v.node.fenced;
    const reason = superseded ? 'superseded_primary' : 'split_brain';
    out.actions.push({ kind: 'fence', node_id: v.node.node_id, reason });
    const sentence = superseded
      ? `${label(v.node)}, a former primary, is back up and accepting writes while ${label(primary.node)} is the primary of term ${ctx.snapshot.cluster.term}: fence it`
      : `split brain: ${label(v.node)} is running and not in recovery while ${label(primary.node)} is the primary of term ${ctx.snapshot.cluster.term}: fence it and keep the term's primary`;
    out.reasons.push(sentence);
    out.events.push({ event: 'split_brain_detected', node_id: v.node.node_id, successful: true, details: sentence });
  }
  return out;
}

/** The primary is fresh, running, accepting connections and not in recovery. */
export function primaryServes(primary: NodeView): boolean {
  const s = primary.server;
  return primary.fresh && s !== null && s.postmaster_running && s.accepting_connections && s.in_recovery !== true;
}

/** Follows toward the primary, in the order the engine takes them (docs/decision-engine.md). */
export interface Followers {
  /** Standbys not registered under another standby: taken before any rejoin. */
  direct: Finding;
  /** Cascaded standbys: after the rejoins, since they may stream through a standby that rejoins. */
  cascaded: Finding;
}

/**
 * Standbys streaming from the wrong node. A standby registered under another active standby is a
 * cascaded standby: its upstream is that standby, and it is left there — or at the primary, if it
 * streams from it: a follow goes only toward the primary (the saga re-checks that its upstream is
 * the live primary of the term). Every other standby should stream from the term's primary; one
 * whose WAL receiver reports another upstream, or whose record names an upstream that is neither
 * the primary nor a standby, is told to follow the primary; so is a cascaded standby that receives
 * no WAL at all (its upstream cannot serve it). A standby of the primary with no WAL receiver is a
 * replication alarm, not a follow: it is where it should be, and PostgreSQL reconnects by itself.
 * Nodes in `rejoining` (a rejoin is due for them) get no follow: the rejoin makes them follow.
 */
export function findFollowers(ctx: EngineContext, primary: NodeView, rejoining: ReadonlySet<number> = new Set()): Followers {
  const direct: Finding = { actions: [], reasons: [], events: [] };
  const cascaded: Finding = { actions: [], reasons: [], events: [] };
  const pid = primary.node.node_id;
  for (const v of ctx.views) {
    const s = v.server;
    if (v === primary || v.node.type !== 'standby' || !v.node.active || v.node.fenced || rejoining.has(v.node.node_id)) continue;
    if (!s || !s.postmaster_running || s.in_recovery !== true || s.fenced) continue;
    const registered = v.node.upstream_node_id;
    const up = registered === null ? undefined : ctx.byId.get(registered);
    const cascade = up !== undefined && up !== primary && up !== v && up.node.type === 'standby' && up.node.active && !up.node.fenced;
    const out = cascade ? cascaded : direct;
    const actual = s.wal_receiver_upstream_node_id;
    if (actual !== null && actual !== pid && !(cascade && actual === registered)) {
      out.actions.push({ kind: 'follow', node_id: v.node.node_id, upstream_node_id: pid });
      out.reasons.push(
        cascade
          ? `${label(v.node)} streams from node ${actual}, neither its registered upstream node ${registered} nor the current primary ${label(primary.node)}: make it follow the primary`
          : `${label(v.node)} streams from node ${actual}, not from the current primary ${label(primary.node)}: make it follow the primary`,
      );
    } else if (!cascade && registered !== null && registered !== pid) {
      out.actions.push({ kind: 'follow', node_id: v.node.node_id, upstream_node_id: pid });
      out.reasons.push(`${label(v.node)} is registered under node ${registered}, which is not the current primary ${label(primary.node)}: make it follow the primary`);
    } else if (cascade && actual === null && s.wal_receiver_status !== 'streaming') {
      // Registered under a standby it does not stream from: often a sibling left under a failed
      // primary that has since rejoined as a standby, whose rewound server holds no replication
      // slot for it. Its upstream cannot give it WAL; the primary can (as repmgrd does when an
      // upstream fails).
      out.actions.push({ kind: 'follow', node_id: v.node.node_id, upstream_node_id: pid });
      out.reasons.push(`${label(v.node)} is registered under standby node ${registered} but receives no WAL (no WAL receiver running): make it follow the primary ${label(primary.node)}`);
    }
  }
  return { direct, cascaded };
}

/** Rejoins due, in the order the engine takes them (docs/decision-engine.md). */
export interface Rejoins {
  /** A switchover's demoted primary, started again without a rewind: before any follow. */
  demoted: Finding;
  /** Any other (a rewind, perhaps an instance to start first): after the follows of standbys not cascaded; stranded standbys before fenced nodes. */
  rewind: Finding;
}

/** Nodes that are fenced (by the controller's record or by their agent) and are not witnesses. */
export function fencedNodes(ctx: EngineContext, primary: NodeView): NodeView[] {
  return ctx.views.filter((v) => v !== primary && v.node.type !== 'witness' && (v.node.fenced || v.heartbeat?.server?.fenced === true));
}

/**
 * Fenced nodes that may come back as standbys of the current primary. Only nodes whose agent is
 * fresh are considered: the rejoin is carried out by that agent — except, with `auto_rejoin`, a node
 * whose instance a fence stopped (EC2 StopInstances): its agent cannot report until something
 * starts the instance, so the rejoin starts it first (docs/controller.md).
 * - A node registered as an active, unfenced standby of the primary whose agent nevertheless
 *   reports its server fenced is a standby the controller stopped on purpose — a switchover's
 *   demoted primary, which the switchover re-registered under the new primary. It is rejoined
 *   whatever `auto_rejoin` says (the switchover asked for it), without a rewind: a clean shutdown
 *   never diverges, and if it did, a person should look.
 * - Any other fenced node (a failed former primary, a fenced intruder, a node fenced by hand) is
 *   rewound and rejoined only with `auto_rejoin`; without it an operator runs `node rejoin`.
 */
export function findRejoins(ctx: EngineContext, primary: NodeView): Rejoins {
  const demoted: Finding = { actions: [], reasons: [], events: [] };
  const out: Finding = { actions: [], reasons: [], events: [] };
  const pid = primary.node.node_id;
  // Stranded standbys first: each is a candidate (often the synchronous standby) that comes back in
  // seconds, while a fenced former primary may need its instance booted and a rewind. And a
  // stranded standby still pointed at that former primary would stream through it, cascaded, once
  // it had rejoined (a drills-in-a-row run, docs/controller.md "Stuck states").
  for (const v of strandedStandbys(ctx, primary)) {
    const s = v.server as ServerState;
    const what = `${label(v.node)} has not streamed for ${formatDuration((v.heartbeat?.sent_at ?? 0) - (s.not_streaming_since ?? 0))} (more than primary_follow_timeout=${ctx.settings.primary_follow_timeout} s) and is on timeline ${s.timeline}, behind the primary's ${primary.server?.timeline}: it may hold WAL the new timeline never had, which no follow can stream past`;
    if (ctx.settings.auto_rejoin) {
      out.actions.push({ kind: 'rejoin', node_id: v.node.node_id, upstream_node_id: pid, force_rewind: true });
      out.reasons.push(`${what}; auto_rejoin=true: rejoin it to ${label(primary.node)} (pg_rewind --dry-run decides whether anything must be rewound)`);
    } else {
      out.reasons.push(`${what}; auto_rejoin=false: run "pgvigil node rejoin --force-rewind" on it`);
    }
  }
  for (const v of fencedNodes(ctx, primary)) {
    const n = v.node;
    if (!v.fresh) {
      if (ctx.settings.auto_rejoin && n.fenced && n.instance_stopped_at !== null && n.instance_id !== null) {
        out.actions.push({ kind: 'rejoin', node_id: n.node_id, upstream_node_id: pid, force_rewind: true });
        out.reasons.push(`${label(n)} is fenced and its instance was stopped by the fence; auto_rejoin=true: start the instance, rewind it and make it follow ${label(primary.node)}`);
      }
      continue;
    }
    if (n.type === 'standby' && n.active && !n.fenced && n.upstream_node_id === pid) {
      demoted.actions.push({ kind: 'rejoin', node_id: n.node_id, upstream_node_id: pid, force_rewind: false });
      demoted.reasons.push(`${label(n)} is registered as a standby of ${label(primary.node)} but its server is held down (a switchover's demoted primary): rejoin it, without a rewind`);
    } else if (ctx.settings.auto_rejoin) {
      out.actions.push({ kind: 'rejoin', node_id: n.node_id, upstream_node_id: pid, force_rewind: true });
      out.reasons.push(`${label(n)} is fenced and its agent is reporting; auto_rejoin=true: rewind it and make it follow ${label(primary.node)}`);
    } else {
      out.reasons.push(`${label(n)} is fenced; auto_rejoin=false, so it stays fenced until "pgvigil node rejoin" is run on it`);
    }
  }
  return { demoted, rewind: out };
}

/**
 * Running standbys left behind by a timeline switch: on an older timeline than the primary's and
 * not streaming for longer than `primary_follow_timeout`, both on the agent's own clock. A standby
 * that received WAL the promoted node never had cannot follow it (PostgreSQL refuses a timeline that
 * forked before its own position), and a follow toward it only waits out its timeout again; a rejoin
 * stops it and lets pg_rewind compare the histories.
 */
export function strandedStandbys(ctx: EngineContext, primary: NodeView): NodeView[] {
  const primaryTimeline = primary.server?.timeline ?? null;
  if (primaryTimeline === null) return [];
  return ctx.views.filter((v) => {
    const s = v.server;
    if (v === primary || v.node.type !== 'standby' || !v.node.active || v.node.fenced || !v.heartbeat) return false;
    // "Streaming" alone does not clear it: an agent keeps not_streaming_since through the moments a
    // receiver that cannot follow the new timeline connects and drops again (agent/daemon/policy.ts).
    if (!s || !s.postmaster_running || s.in_recovery !== true || s.fenced) return false;
    if (s.not_streaming_since == null || s.timeline === null || s.timeline >= primaryTimeline) return false;
    return v.heartbeat.sent_at - s.not_streaming_since > ctx.settings.primary_follow_timeout * 1000;
  });
}
