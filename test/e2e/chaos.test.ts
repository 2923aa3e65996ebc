/**
 * A short chaos campaign (docs/drills.md, "The chaos campaign") on one sandbox: each stress fault
 * once, held at most 15 s — the control plane stalled, slow, failing or unreachable, processes stopped, packets lost
 * or delayed, CPU starved, a switchover under a fault — in the order seed 403 draws, then the
 * verdict of the checkers, invariant by invariant. The nine drills' own faults are left to
 * test/e2e/drills.test.ts, which runs each of them on its own; CI's time budget (30 minutes on two
 * cores) holds both. `npm run bench:chaos` runs the long campaigns with every fault type.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCampaign, type CampaignResult } from '../../sandbox/chaos/campaign.js';
import { FAULT_TYPES, type FaultType } from '../../sandbox/chaos/schedule.js';
import { SCENARIO_NAMES } from '../../sandbox/drills/names.js';
import { controllerTail } from '../../sandbox/drills/index.js';
import { Sandbox } from '../../sandbox/index.js';
import { freePort } from '../../sandbox/ports.js';

const SEED = 403;
const FAULTS: FaultType[] = FAULT_TYPES.filter((f) => !(SCENARIO_NAMES as readonly string[]).includes(f));
let sandbox: Sandbox;
let parent: string;
let result: CampaignResult;
const lines: string[] = [];

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-chaos-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort() });
  // Each fault once, held at most 15 s (`--once --max-hold 15s`): about four minutes here; the
  // duration is only a limit that a slow machine would have to hit before a fault type is skipped.
  result = await runCampaign(sandbox, { seed: SEED, durationMs: 12 * 60_000, once: true, maxHoldMs: 15_000, faults: FAULTS, log: (line) => lines.push(line) });
}, 25 * 60_000);

afterAll(async () => {
  await sandbox?.down();
  if (parent) rmSync(parent, { recursive: true, force: true });
});

/** Everything a failed assertion should show: the live lines, the violations and their timelines. */
function why(): string {
  const v = result.verdict;
  return [
    `seed ${SEED}${result.aborted ? `, stopped early: ${result.aborted}` : ''}`,
    ...lines,
    ...v.violations.map((x) => `VIOLATION ${x.kind} (#${x.window ?? '-'}): ${x.message}`),
    ...Object.entries(result.timelines).flatMap(([i, t]) => [`timeline #${i}:`, ...t]),
    `controller:\n${controllerTail(sandbox, 6)}`,
  ].join('\n');
}

describe.sequential('a short chaos campaign on one sandbox', () => {
  it('injects each of its fault types once and runs to its end', () => {
    expect(result.aborted, why()).toBeNull();
    expect(Object.keys(result.verdict.figures.faults_injected).sort(), why()).toEqual([...FAULTS].sort());
  });

  it('loses no acknowledged write', () => {
    expect(result.verdict.figures.acked_writes, why()).toBeGreaterThan(1000);
    expect(result.verdict.figures.acked_writes_lost, why()).toBe(0);
  });

  it('never has two writable primaries at once', () => {
    expect(result.verdict.figures.max_writable_primaries, why()).toBe(1);
  });

  it('has a writable primary behind the Elastic IP within lease + 10 s of every heal, and is never stuck', () => {
    expect(result.verdict.figures.longest_no_primary_after_heal_ms, why()).toBeLessThanOrEqual(result.lease_ms + 10_000);
    expect(result.verdict.figures.stuck_states, why()).toBe(0);
  });

  it('has every node streaming again within 2 minutes of every heal, without the campaign repairing anything', () => {
    expect(result.verdict.violations.filter((v) => v.kind === 'not_streaming_after_heal'), why()).toEqual([]);
    expect(result.verdict.figures.repairs, why()).toBe(0);
  });

  it('fences no node without a fault that justifies it', () => {
    expect(result.verdict.figures.needless_fences, why()).toBe(0);
  });

  it('ends with a passing verdict', () => {
    expect(result.verdict.violations, why()).toEqual([]);
    expect(result.ok, why()).toBe(true);
  });
});
