/**
 * Failsafe mode never yields two writable primaries (docs/architecture.md, "Failsafe mode"), for
 * every interleaving of confirmation rounds, message delays, promote attempts, clock offsets and
 * clock rates within the assumed bound. Plain numbers for clocks: real time drives a model of the
 * primary, its standbys and the controller, and the rules under test are the daemon's own
 * (agent/daemon/failsafe.ts, agent/daemon/policy.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideConfirm, failsafeCandidates, failsafeGround, failsafeHoldMs, promoteHeld, type HeldConfirmation } from '../../agent/daemon/failsafe.js';
import { leaseTimings } from '../../agent/daemon/policy.js';
import { primaryServer, standbyServer } from '../support/cli-cluster.js';

interface Clock {
  offset: number;
  rate: number;
}
const read = (c: Clock, t: number): number => c.offset + c.rate * t;

type Action = { kind: 'ask'; at: number; delays: { out: number; back: number }[] } | { kind: 'promote'; at: number; node: number };

interface Scenario {
  standbys: number;
  primaryClock: Clock;
  standbyClocks: Clock[];
  actions: Action[];
}

/** Clocks whose rates lie within [1 − rho, 1 + rho], with any offsets. */
function scenario(rho: number): fc.Arbitrary<Scenario> {
  const clock = fc.record({ offset: fc.integer({ min: -1e9, max: 1e9 }), rate: fc.double({ min: 1 - rho, max: 1 + rho, noNaN: true }) });
  return fc.integer({ min: 1, max: 3 }).chain((standbys) =>
    fc.record({
      standbys: fc.constant(standbys),
      primaryClock: clock,
      standbyClocks: fc.array(clock, { minLength: standbys, maxLength: standbys }),
      actions: fc.array(
        fc.oneof(
          fc.record({
            kind: fc.constant('ask' as const),
            at: fc.integer({ min: 0, max: 60_000 }),
            delays: fc.array(fc.record({ out: fc.integer({ min: 0, max: 3000 }), back: fc.integer({ min: 0, max: 3000 }) }), { minLength: standbys, maxLength: standbys }),
          }),
          fc.record({ kind: fc.constant('promote' as const), at: fc.integer({ min: 0, max: 60_000 }), node: fc.integer({ min: 0, max: standbys - 1 }) }),
        ),
        { maxLength: 40 },
      ),
    }),
  );
}

const LEASE_SECS = 5;
const MARGIN_MS = 500;

/**
 * Runs a scenario; returns a description of the overlap when a standby was promoted while the old
 * primary could still accept writes, else null.
 */
function overlap(s: Scenario, holdMs: number): string | null {
  const timings = leaseTimings({ lease_secs: LEASE_SECS });
  const L = timings.leaseMs;
  const ids = Array.from({ length: s.standbys }, (_, i) => i + 2);
  const nodes = [{ node_id: 1, type: 'primary' as const, active: true }, ...ids.map((node_id) => ({ node_id, type: 'standby' as const, active: true }))];
  const candidates = failsafeCandidates(nodes, 1);
  type Ev = { at: number; order: number; run: () => void };
  const events: Ev[] = [];
  let order = 0;
  const at = (t: number, run: () => void): void => void events.push({ at: t, order: order++, run });

  // The primary's lease: renewed last at real time 0, then DynamoDB is gone for good.
  let ground = read(s.primaryClock, 0);
  let fenced = false;
  const held = new Map<number, HeldConfirmation>();
  const confirmed: (number | null)[] = ids.map(() => null);
  const promotedAt: (number | null)[] = ids.map(() => null);
  // The controller's claim: lease_secs + clock_skew_margin_ms on its own clock after it saw the
  // last renewal (at real time 0 at the earliest), its clock as slow as the bound allows.
  const rho = Math.max(...[s.primaryClock, ...s.standbyClocks].map((c) => Math.abs(c.rate - 1)));
  const controllerMay = (L + MARGIN_MS) / (1 + rho);

  const applyGround = (t: number, since: number): void => {
    // A primary whose fence has started never serves again.
    if (fenced || read(s.primaryClock, t) >= ground + L - timings.fenceLeadMs) {
      fenced = true;
      return;
    }
    ground = Math.max(ground, since);
  };

  for (const a of s.actions) {
    if (a.kind === 'promote') {
      at(a.at, () => {
        const i = a.node;
        if (a.at < controllerMay || promotedAt[i] !== null) return;
        if (promoteHeld(confirmed[i] ?? null, read(s.standbyClocks[i] as Clock, a.at), holdMs).held) return;
        promotedAt[i] = a.at;
      });
      continue;
    }
    at(a.at, () => {
      // The primary may ask at any moment (failsafeDue only saves requests): safety may not depend on it.
      const askedMono = read(s.primaryClock, a.at);
      ids.forEach((id, i) => {
        const d = a.delays[i] ?? { out: 0, back: 0 };
        at(a.at + d.out, () => {
          const promoted = promotedAt[i] !== null;
          const decision = decideConfirm(
            { clusterId: 'c', nodeId: 1, term: 1 },
            { nodeId: id, clusterId: 'c', server: promoted ? primaryServer() : standbyServer(1), fenced: false, cluster: { term: 1, primary_node_id: 1 }, promoting: false },
          );
          if (!decision.confirm) return;
          // The promise is recorded before the answer leaves.
          confirmed[i] = read(s.standbyClocks[i] as Clock, a.at + d.out);
          at(a.at + d.out + d.back, () => {
            held.set(id, { nodeId: id, askedMono, candidates: candidates });
            const g = failsafeGround(candidates, held);
            if (g.ok) applyGround(a.at + d.out + d.back, g.sinceMono);
          });
        });
      });
    });
  }
  // Real-time order; events at the same instant in the order they were scheduled.
  for (let k = 0; k < events.length; k++) {
    events.sort((x, y) => x.at - y.at || x.order - y.order);
    const next = events.splice(0, 1)[0];
    if (!next) break;
    next.run();
    k = -1;
  }
  // The primary's writes end once `lease_secs` have passed on its clock since its latest ground
  // (its fence starts fenceLeadMs earlier and has stopped the server by then).
  const lastWrite = (ground + L - s.primaryClock.offset) / s.primaryClock.rate;
  const early = promotedAt.findIndex((t) => t !== null && t < lastWrite);
  return early < 0 ? null : `node ${ids[early]} promoted at ${promotedAt[early]} ms while the old primary could write until ${lastWrite.toFixed(1)} ms`;
}

describe('failsafe mode', () => {
  const hold = failsafeHoldMs({ lease_secs: LEASE_SECS, clock_skew_margin_ms: MARGIN_MS });
  // The rate bound the hold covers: hold ≥ lease × (1 + rho) / (1 − rho).
  const rho = MARGIN_MS / (2 * LEASE_SECS * 1000 + MARGIN_MS);

  it('never promotes a standby while the primary it confirmed may still accept writes, for any interleaving, offsets and clock rates within the bound', () => {
    fc.assert(
      fc.property(scenario(rho), (s) => {
        expect(overlap(s, hold)).toBeNull();
      }),
      { numRuns: 1000 },
    );
  }, 60_000);

  it('would let two primaries overlap if a standby refused promotion for only lease_secs while clock rates differ (the check has teeth)', () => {
    // The primary's clock as slow as the bound allows, the standby's as fast: one round at half the
    // lease, answered at once, then a promote once lease_secs have passed on the standby.
    const s: Scenario = {
      standbys: 1,
      primaryClock: { offset: 0, rate: 1 - rho },
      standbyClocks: [{ offset: 7, rate: 1 + rho }],
      actions: [
        { kind: 'ask', at: 2500, delays: [{ out: 0, back: 0 }] },
        { kind: 'promote', at: 7400, node: 0 },
      ],
    };
    expect(overlap(s, LEASE_SECS * 1000)).toMatch(/node 2 promoted at 7400 ms while the old primary could write until 77\d\d/);
    expect(overlap(s, hold)).toBeNull();
  });

  it('keeps the primary serving past its lease while every standby keeps confirming', () => {
    const same = { offset: 0, rate: 1 };
    const asks: Action[] = Array.from({ length: 40 }, (_, k) => ({ kind: 'ask', at: 2500 + k * 625, delays: [{ out: 5, back: 5 }, { out: 5, back: 5 }] }));
    const s: Scenario = { standbys: 2, primaryClock: same, standbyClocks: [same, same], actions: [...asks, { kind: 'promote', at: 20_000, node: 0 }] };
    expect(overlap(s, hold)).toBeNull();
  });
});

describe('decideConfirm', () => {
  const base = { nodeId: 2, clusterId: 'c', server: standbyServer(1), fenced: false, cluster: { term: 4, primary_node_id: 1 }, promoting: false };
  const req = { clusterId: 'c', nodeId: 1, term: 4 };

  it('confirms the primary its last cluster read names, at that term or a later one', () => {
    expect(decideConfirm(req, base)).toEqual({ confirm: true });
    expect(decideConfirm({ ...req, term: 5 }, base)).toEqual({ confirm: true });
  });

  it.each<[string, Partial<typeof base>, Partial<typeof req>, RegExp]>([
    ['another cluster asks', {}, { clusterId: 'd' }, /belongs to cluster "c", not "d"/],
    ['it is being promoted', { promoting: true }, {}, /being promoted/],
    ['it is fenced', { fenced: true }, {}, /fenced/],
    ['it runs as a primary', { server: primaryServer() }, {}, /does not run as a standby/],
    ['its record names another primary', { cluster: { term: 4, primary_node_id: 3 } }, {}, /names node 3 as primary, not node 1/],
    ['it has seen a newer term', { cluster: { term: 6, primary_node_id: 1 } }, {}, /seen term 6, newer than the primary's term 4/],
  ])('refuses when %s', (_why, facts, request, message) => {
    const d = decideConfirm({ ...req, ...request }, { ...base, ...facts });
    expect(d.confirm).toBe(false);
    expect(d.confirm ? '' : d.why).toMatch(message);
  });
});

describe('failsafeGround', () => {
  const c = (nodeId: number, askedMono: number, candidates = [2, 3]): HeldConfirmation => ({ nodeId, askedMono, candidates });

  it('stands from the oldest of the latest confirmations of every candidate', () => {
    expect(failsafeGround([2, 3], new Map([[2, c(2, 900)], [3, c(3, 700)]]))).toEqual({ ok: true, sinceMono: 700 });
  });

  it.each<[string, number[], Map<number, HeldConfirmation>, RegExp]>([
    ['there is no standby', [], new Map(), /no active standby/],
    ['one candidate has not confirmed', [2, 3], new Map([[2, c(2, 900)]]), /no confirmation from node 3/],
    ['a standby knows of a candidate the primary did not ask', [2, 3], new Map([[2, c(2, 900, [2, 3, 4])], [3, c(3, 900)]]), /node 2 knows of candidate 4/],
  ])('does not stand when %s', (_why, candidates, held, message) => {
    const g = failsafeGround(candidates, held);
    expect(g.ok).toBe(false);
    expect(g.ok ? '' : g.why).toMatch(message);
  });
});

describe('promoteHeld', () => {
  it('holds a promote for the hold after the confirmation, on the standby\'s clock', () => {
    expect(promoteHeld(null, 10, 5500)).toEqual({ held: false });
    expect(promoteHeld(1000, 6000, 5500)).toEqual({ held: true, remainingMs: 500 });
    expect(promoteHeld(1000, 6500, 5500)).toEqual({ held: false });
  });
});
