import { describe, expect, it } from 'vitest';
import { PgvigilError } from '../../core/errors.js';
import { seededRandom } from '../../sandbox/chaos/random.js';
import { FAULT_TYPES, FAULTS, describeFault, parseFaultList, planSchedule, type FaultType } from '../../sandbox/chaos/schedule.js';

const LEASE = 4000;
const base = { durationMs: 30 * 60_000, faults: FAULT_TYPES, leaseMs: LEASE };

describe('the seeded random numbers', () => {
  it('draw the same sequence from the same seed and another from another seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const seqA = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });

  it('draws integers in their closed range, reaching both ends', () => {
    const r = seededRandom(7);
    const seen = new Set(Array.from({ length: 500 }, () => r.int(3, 6)));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });
});

describe('planSchedule', () => {
  it('plans the same schedule for the same seed, and another for another seed', () => {
    expect(planSchedule({ ...base, seed: 1234 })).toEqual(planSchedule({ ...base, seed: 1234 }));
    expect(planSchedule({ ...base, seed: 1234 })).not.toEqual(planSchedule({ ...base, seed: 1235 }));
  });

  it('covers every chosen fault type first, then draws only among them', () => {
    const faults: FaultType[] = ['aws-stall', 'crash-primary', 'packet-loss'];
    const plan = planSchedule({ ...base, seed: 9, faults });
    expect(new Set(plan.slice(0, 3).map((f) => f.type))).toEqual(new Set(faults));
    for (const f of plan) expect(faults).toContain(f.type);
    const all = planSchedule({ ...base, seed: 9 });
    expect(new Set(all.slice(0, FAULT_TYPES.length).map((f) => f.type))).toEqual(new Set(FAULT_TYPES));
  });

  it('plans at least as much fault and gap time as the campaign lasts, numbered in order', () => {
    const plan = planSchedule({ ...base, seed: 5, durationMs: 10 * 60_000 });
    expect(plan.reduce((t, f) => t + f.gapMs + f.holdMs, 0)).toBeGreaterThanOrEqual(10 * 60_000);
    expect(plan.map((f) => f.index)).toEqual(plan.map((_, i) => i + 1));
  });

  it('holds lease-sensitive faults clearly shorter or clearly longer than the lease, never in between', () => {
    for (let seed = 0; seed < 40; seed++) {
      for (const f of planSchedule({ ...base, seed, faults: ['aws-stall', 'aws-blackhole', 'sigstop-agent'] })) {
        const inBetween = f.holdMs > LEASE - 1500 && f.holdMs < LEASE + 2000;
        expect(inBetween, `${describeFault(f)}`).toBe(false);
      }
    }
  });

  it('keeps partial control-plane faults mild: at most half the requests fail, latency at most 1.3 s', () => {
    for (let seed = 0; seed < 40; seed++) {
      for (const f of planSchedule({ ...base, seed, faults: ['aws-errors', 'aws-latency', 'packet-loss', 'packet-delay'] })) {
        const p = f.params;
        if (f.type === 'aws-errors') expect((p.errorRate ?? 0) + (p.throttleRate ?? 0)).toBeLessThanOrEqual(0.5 + 1e-9);
        if (f.type === 'aws-latency') expect((p.latencyMs ?? 0) + (p.jitterMs ?? 0)).toBeLessThanOrEqual(1300);
        if (f.type === 'packet-loss') expect(p.lossPercent).toBeLessThanOrEqual(15);
        if (f.type === 'packet-delay') expect(p.delayMs).toBeLessThanOrEqual(200);
      }
    }
  });

  it('starts a switchover under a milder fault, never under a frozen primary agent', () => {
    for (let seed = 0; seed < 30; seed++) {
      for (const f of planSchedule({ ...base, seed, durationMs: 5 * 60_000, faults: ['switchover-during-fault'] })) {
        const under = f.params.base;
        expect(under).toBeDefined();
        expect(['aws-latency', 'aws-errors', 'cpu-starvation', 'packet-delay', 'packet-loss', 'partition-witness', 'sigstop-agent', 'sigstop-controller']).toContain(under?.type);
        if (under?.type === 'sigstop-agent') expect(under.params.role).not.toBe('primary');
        expect(f.params.switchoverAfterMs).toBeLessThan(f.holdMs);
      }
    }
  });

  it('with once, plans every chosen fault type exactly once, whatever the duration', () => {
    const faults: FaultType[] = ['aws-stall', 'crash-primary', 'packet-loss', 'cpu-starvation'];
    for (const durationMs of [10_000, 60 * 60_000]) {
      const plan = planSchedule({ ...base, seed: 21, durationMs, faults, once: true });
      expect(plan.map((f) => f.type).sort()).toEqual([...faults].sort());
    }
    // The same order and draws as without once: only the tail is left out.
    expect(planSchedule({ ...base, seed: 21, faults, once: true })).toEqual(planSchedule({ ...base, seed: 21, faults }).slice(0, faults.length));
  });

  it('with a hold cap, holds no fault (nor a switchover\'s base fault) longer, and keeps long holds clearly above the lease', () => {
    for (let seed = 0; seed < 40; seed++) {
      const capped = planSchedule({ ...base, seed, maxHoldMs: 15_000 });
      const free = planSchedule({ ...base, seed });
      // The same draws: the shorter holds only leave room for more faults after them.
      expect(capped.slice(0, free.length).map((f) => f.type)).toEqual(free.map((f) => f.type));
      for (const [i, f] of capped.slice(0, free.length).entries()) {
        expect(f.holdMs, describeFault(f)).toBe(Math.min(free[i]!.holdMs, 15_000));
        if (f.params.base) expect(f.params.base.holdMs).toBeLessThanOrEqual(15_000);
        if (f.params.switchoverAfterMs !== undefined) expect(f.params.switchoverAfterMs).toBeLessThan(f.holdMs);
        if (['aws-stall', 'aws-blackhole', 'sigstop-agent'].includes(f.type)) expect(f.holdMs > LEASE - 1500 && f.holdMs < LEASE + 2000, describeFault(f)).toBe(false);
      }
    }
  });

  it('refuses a hold cap under 15 s or under the lease + 3 s, saying which', () => {
    expect(() => planSchedule({ ...base, seed: 1, maxHoldMs: 14_000 })).toThrow(/--max-hold must be at least 15 s with lease_secs=4, got 14 s/);
    expect(() => planSchedule({ ...base, seed: 1, leaseMs: 20_000, maxHoldMs: 20_000 })).toThrow(/at least 23 s with lease_secs=20/);
    expect(() => planSchedule({ ...base, seed: 1, maxHoldMs: 15_000 })).not.toThrow();
  });

  it('refuses an empty fault list', () => {
    expect(() => planSchedule({ ...base, seed: 1, faults: [] })).toThrow(/at least one fault type/);
  });
});

describe('parseFaultList', () => {
  it('reads a comma-separated list, and "all" as every fault type', () => {
    expect(parseFaultList('aws-stall, crash-primary,aws-stall')).toEqual(['aws-stall', 'crash-primary']);
    expect(parseFaultList('all')).toEqual([...FAULT_TYPES]);
  });

  it('refuses an unknown fault type and lists the valid ones', () => {
    let error: unknown;
    try {
      parseFaultList('crash-primary,meteor-strike');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PgvigilError);
    expect((error as PgvigilError).message).toMatch(/unknown fault type "meteor-strike"/);
    expect((error as PgvigilError).hint).toContain('packet-delay');
    expect((error as PgvigilError).hint).toContain('switchover-during-fault');
    expect(() => parseFaultList(' , ')).toThrow(/at least one fault type/);
  });

  it('describes every fault type', () => {
    for (const t of FAULT_TYPES) expect(FAULTS[t].summary.length).toBeGreaterThan(10);
  });
});
