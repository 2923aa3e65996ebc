/**
 * Primary failure evidence and the three consensus rules (docs/decision-engine.md: R1 visibility, R2 location,
 * R3 quorum). Everything here only *judges*; decide.ts turns the verdicts into a decision.
 *
 * Times from different machines are never subtracted from each other, except where docs/decision-engine.md asks
 * for a comparison "allowing the skew margin". In those comparisons an ambiguous time (within the
 * margin of the failure's beginning) always counts as belonging to the outage: a last successful
 * check a moment before a crash is exactly what one expects to see, and treating it as "the primary
 * was reached after the failure" would stall every crash failover for good (that check never
 * changes again). Safety does not rest on these comparisons but on the primary's own report or on
 * the lease, which is judged on the controller clock alone.
 */
import type { Alarm } from '../decision.js';
import { formatDuration, formatTime, label, plural, reachabilityOf, staleness, type EngineContext, type NodeView } from './freshness.js';
import type { LeaseView } from './lease.js';

export type FailureKind = 'server_down' | 'not_accepting' | 'in_recovery' | 'silent';

export type PrimaryVerdict =
  | { state: 'healthy'; notes: string[] }
  | { state: 'suspect'; headline: string; reasons: string[] }
  | { state: 'failed'; kind: FailureKind; began: number; headline: string; reasons: string[] };

/** `reconnect_attempts` × `reconnect_interval`, in milliseconds. */
export function reconnectWindowMs(ctx: EngineContext): number {
  return ctx.settings.reconnect_attempts * ctx.settings.reconnect_interval * 1000;
}

/**
 * Rule 1 (docs/decision-engine.md): local evidence (the primary's own agent) or silence plus an expired lease.
 * A live primary holding a fresh lease and reporting itself healthy is never failed.
 */
export function assessPrimary(ctx: EngineContext, primary: NodeView, lease: LeaseView): PrimaryVerdict {
  const who = `the primary ${label(primary.node)}`;
  const hb = primary.heartbeat;
  if (primary.fresh && hb) {
    const s = hb.server;
    if (!s) {
      return {
        state: 'suspect',
        headline: `${who} sends heartbeats but reports no state for its PostgreSQL server: waiting for its agent`,
        reasons: [lease.description],
      };
    }
    if (!s.postmaster_running) {
      // The agent's own clock for both ends; the report is definitive at once (a crash is no blip).
      const began = Math.min(s.down_since ?? hb.sent_at, hb.sent_at);
      return {
        state: 'failed',
        kind: 'server_down',
        began,
        headline: `${who} reports that its PostgreSQL server is not running (down since ${formatTime(began)})`,
        reasons: ['a stopped postmaster reported by the primary\'s own agent is definitive: no reconnect window is needed'],
      };
    }
    if (!s.accepting_connections) {
      // Measured on the agent's clock only (down_since and sent_at are both its times).
      const since = Math.min(s.down_since ?? s.last_accepting_at ?? hb.sent_at, hb.sent_at);
      const downFor = hb.sent_at - since;
      const window = reconnectWindowMs(ctx);
      const settings = `reconnect_attempts=${ctx.settings.reconnect_attempts} × reconnect_interval=${ctx.settings.reconnect_interval}`;
      if (downFor >= window) {
        return {
          state: 'failed',
          kind: 'not_accepting',
          began: since,
          headline: `${who} has not accepted connections for ${formatDuration(downFor)} (${settings} = ${formatDuration(window)})`,
          reasons: [`its postmaster is still running, but the reconnect window has run out`],
        };
      }
      return {
        state: 'suspect',
        headline: `${who} has not accepted connections for ${formatDuration(downFor)}, less than the reconnect window (${settings} = ${formatDuration(window)}): waiting`,
        reasons: [lease.description],
      };
    }
    if (s.in_recovery === true) {
      // The record names it primary, but its server is a standby: nothing takes writes. A just
      // promoted primary reports this until its next heartbeat, so it is failed only once it has
      // not renewed its lease for a whole lease either (a primary in recovery renews nothing).
      if (!lease.expired) {
        return {
          state: 'suspect',
          headline: `${who} reports that its server runs in recovery: waiting for it to renew its lease as a primary`,
          reasons: [lease.description],
        };
      }
      return {
        state: 'failed',
        kind: 'in_recovery',
        began: hb.sent_at,
        headline: `${who} reports that its server runs in recovery and has not renewed its lease: the cluster has no writable primary`,
        reasons: ['a primary in recovery takes no writes; its own agent says so, which is definitive', lease.description],
      };
    }
    const notes: string[] = [];
    if (lease.expired) notes.push(`${lease.description}, although the primary's heartbeat is fresh: its agent may be failing to renew`);
    const losing = voters(ctx, primary).filter((v) => reachabilityOf(v, primary.node.node_id)?.ok === false);
    if (losing.length > 0) {
      notes.push(
        `${losing.map((v) => label(v.node)).join(', ')} cannot reach the primary, but it reports itself healthy through its own agent: a network problem between nodes, not a failed primary`,
      );
    }
    return { state: 'healthy', notes };
  }
  const why = `${who} ${staleness(primary, ctx) ?? 'is not fresh'}`;
  if (!lease.expired) {
    return {
      state: 'suspect',
      headline: `${who} is silent but its lease has not expired: waiting (a primary holding its lease may still be serving)`,
      reasons: [why, lease.description],
    };
  }
  // The failure began at the primary's last heartbeat. Without a usable one (none, or from the
  // future), it began when the controller first saw the lease that has not changed since.
  const began = hb && !primary.skewed ? hb.sent_at : lease.observation.first_seen_at;
  return {
    state: 'failed',
    kind: 'silent',
    began,
    headline: `${who} is silent and its lease has expired`,
    reasons: [why, lease.description],
  };
}

export type ConsensusVerdict =
  | { ok: true; reasons: string[]; alarms: Alarm[] }
  | { ok: false; code: 'wait' | 'failover_cancelled'; headline: string; reasons: string[]; alarms: Alarm[] };

/** Active standbys and witnesses other than the primary: the observers and voters of R1–R3. */
export function voters(ctx: EngineContext, primary: NodeView): NodeView[] {
  return ctx.views.filter((v) => v !== primary && v.node.active && (v.node.type === 'standby' || v.node.type === 'witness'));
}

/**
 * One primary, one standby and no witness: R3 cannot be met by a majority, so the lease alone
 * decides (docs/decision-engine.md), with the standing alarm `two_node_no_witness`.
 */
export function isTwoNodeWithoutWitness(ctx: EngineContext, primary: NodeView): boolean {
  const vs = voters(ctx, primary);
  return vs.length === 1 && vs[0]?.node.type === 'standby' && !ctx.views.some((v) => v.node.type === 'witness' && v.node.active);
}

/** R1, R2 and R3 for a primary judged failed since `began`. */
export function checkConsensus(ctx: EngineContext, primary: NodeView, began: number, lease: LeaseView): ConsensusVerdict {
  const reasons: string[] = [];
  const alarms: Alarm[] = [];
  const pid = primary.node.node_id;
  const vs = voters(ctx, primary);

  // R1 visibility consensus. An observer sees the primary when its *latest* check reached it
  // after the failure began. A success followed by failures is the last sign of life of a dying
  // primary, not visibility: a host that dies between two of its heartbeats is always reached once
  // more by someone, and that success never changes again, so counting it would stall the
  // failover for good. Such a success moves the failure's beginning instead (see R3 below).
  if (ctx.settings.primary_visibility_consensus) {
    const seers = vs.filter((v) => {
      const r = reachabilityOf(v, pid);
      return r !== null && r.ok && r.last_ok_at !== null && r.last_ok_at > began + ctx.margin;
    });
    const first = seers[0];
    if (first) {
      const r = reachabilityOf(first, pid);
      return {
        ok: false,
        code: 'failover_cancelled',
        headline: `failover cancelled: ${label(first.node)} reached the primary at ${formatTime(r?.last_ok_at ?? 0)}, after the failure began at ${formatTime(began)} (primary_visibility_consensus)`,
        reasons: seers.length > 1 ? [`${plural(seers.length, 'observer')} still reach the primary: ${seers.map((v) => label(v.node)).join(', ')}`] : [],
        alarms,
      };
    }
    reasons.push(`R1: no fresh standby or witness has reached the primary since the failure began at ${formatTime(began)}`);
  } else {
    reasons.push('R1: primary_visibility_consensus is off, so what other nodes see of the primary is not consulted');
  }

  // R2 location rule: only meaningful when the primary itself is silent (its own agent is in its location).
  if (!primary.fresh) {
    const loc = primary.node.location;
    const here = vs.filter((v) => v.node.location === loc);
    if (!here.some((v) => v.fresh)) {
      const detail = here.length === 0 ? 'no other node is registered there' : `${here.map((v) => label(v.node)).join(', ')} ${here.length === 1 ? 'is' : 'are'} silent too`;
      if (!ctx.settings.failover_on_location_loss) {
        return {
          ok: false,
          code: 'failover_cancelled',
          headline: `failover cancelled: location dark — the primary's location "${loc}" has no fresh node (${detail}) and failover_on_location_loss=false`,
          reasons: [...reasons, 'a dark location cannot be told apart from a network partition around it; repmgr does not fail over in this case either'],
          alarms,
        };
      }
      reasons.push(`R2: the primary's location "${loc}" is dark (${detail}); failover_on_location_loss=true and the lease has expired, so the failover may proceed`);
    } else {
      reasons.push(`R2: a fresh node in the primary's location "${loc}" confirms the location is reachable`);
    }
  }

  // R3 quorum: failed checks count from the last sign of life, the later of the failure's
  // beginning and the last time any fresh observer reached the primary.
  const lastSign = Math.max(began, ...vs.map((v) => reachabilityOf(v, pid)?.last_ok_at ?? began));
  if (lastSign > began + ctx.margin) {
    const by = vs.find((v) => reachabilityOf(v, pid)?.last_ok_at === lastSign);
    reasons.push(`${by ? label(by.node) : 'an observer'} last reached the primary at ${formatTime(lastSign)}, after its last heartbeat; failed checks count from then`);
  }
  const needed = Math.floor(vs.length / 2) + 1;
  const yes = vs.filter((v) => {
    const r = reachabilityOf(v, pid);
    return r !== null && !r.ok && r.checked_at >= lastSign - ctx.margin;
  });
  const pending = vs.filter((v) => v.fresh && !yes.includes(v));
  const names = (list: NodeView[]): string => (list.length === 0 ? 'none' : list.map((v) => label(v.node)).join(', '));
  if (yes.length >= needed) {
    reasons.push(`R3: ${yes.length} of ${vs.length} voters report the primary unreachable since the failure began (${names(yes)}); more than half is ${needed}`);
    return { ok: true, reasons, alarms };
  }
  if (isTwoNodeWithoutWitness(ctx, primary) && lease.expired) {
    reasons.push('R3: one primary and one standby without a witness: failing over on the expired lease alone');
    alarms.push({ kind: 'two_node_no_witness', node_id: null, message: 'one primary and one standby without a witness: a failover rests on the lease alone; add a witness in a third location' });
    return { ok: true, reasons, alarms };
  }
  if (yes.length + pending.length >= needed) {
    return {
      ok: false,
      code: 'wait',
      headline: `waiting for quorum: ${yes.length} of ${vs.length} voters report the primary unreachable since the failure began, ${needed} needed`,
      reasons: [...reasons, `not yet confirmed by: ${names(pending)}`],
      alarms,
    };
  }
  const silent = vs.filter((v) => !v.fresh);
  return {
    ok: false,
    code: 'failover_cancelled',
    headline: `failover cancelled: no quorum (only ${yes.length} of ${vs.length} voters report the primary unreachable and ${needed} are needed)`,
    reasons: [...reasons, `voters that are not fresh: ${names(silent)}`],
    alarms,
  };
}
