/**
 * `npm run bench:failover [-- [--latency local|aws] RUNS [SCENARIO …]]`: each failover drill RUNS times (default 5) on
 * one sandbox (healed back to a healthy 3-node cluster before every run), printing each run as a
 * JSON line and then p50 / p95 / max of write_outage_ms and of each step's time from the fault,
 * with `observers` (the second voter to see the old primary unreachable) and
 * `claim_after_observers` (from that quorum to the claim: the controller's own share).
 * A benchmark, not a test: it prints figures and never asserts (targets: crash-primary
 * outage under 3 s at p50, kill-primary-host and partition-primary under lease + 3 s, switchover
 * under 2 s with no lost writes). `--latency aws` runs the sandbox with AWS's own latencies
 * (docs/sandbox.md, "Latency profiles").
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../build/index.js';
import { Sandbox } from '../sandbox/index.js';
import { freePort } from '../sandbox/ports.js';
import { SCENARIOS, runDrill, scenario, type DrillResult, type ScenarioName } from '../sandbox/drills/index.js';
import { observersMs, quantile } from './peers/stats.js';
import { latencyFlag } from '../sandbox/latency.js';

const FAILOVER_DRILLS: ScenarioName[] = ['crash-primary', 'kill-primary-host', 'partition-primary', 'switchover', 'kill-controller-mid-saga'];

const { latency, rest: args } = latencyFlag(process.argv.slice(2));
const runs = Number(args[0] ?? 5);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`ERROR: RUNS must be a positive integer, got "${args[0]}"\n`);
  process.exit(1);
}
const names = args.length > 1 ? args.slice(1).map((n) => scenario(n).name) : FAILOVER_DRILLS;

/** When the second of the three voters saw the old primary unreachable (bench/peers/stats.ts), from the fault. */
function observers(r: DrillResult): number | null {
  const oldId = sandbox.plan.nodes.find((n) => n.node_name === r.old_primary)?.node_id ?? -1;
  return observersMs(r.events, oldId);
}

/** The controller's own share: from the observers' quorum to the claim of the failover's term. */
function claimAfterObservers(r: DrillResult): number | null {
  const seen = observers(r);
  const claimed = r.timings_ms.saga_claimed;
  return seen === null || typeof claimed !== 'number' ? null : claimed - seen;
}

function row(label: string, values: (number | null | undefined)[]): string {
  const v = values.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return `  ${label.padEnd(22)} (none)`;
  const f = (n: number) => `${String(n).padStart(7)} ms`;
  return `  ${label.padEnd(22)} p50 ${f(quantile(v, 0.5))}  p95 ${f(quantile(v, 0.95))}  max ${f(v[v.length - 1] as number)}  (n=${v.length})`;
}

// The sandbox's hosts run the built agent and its emulated AWS the built Lambda code.
await ensureBuilt((line) => process.stderr.write(`INFO: ${line}\n`));
const parent = mkdtempSync(join(tmpdir(), 'pgv-bench-failover-'));
chmodSync(parent, 0o755);
// auto_rejoin off, as in the e2e drills: each run's heal rejoins the old primary itself, and the
// controller rejoining it at the same moment makes the heal's `node rejoin` fail. It acts only after
// the failover, so the figures do not depend on it (bench:follow measures it).
const sandbox = await Sandbox.up({
  dir: join(parent, 'sandbox'),
  vipPort: await freePort(),
  latency,
  overrides: { text: 'auto_rejoin=false\n', file: 'bench-failover.conf' },
  progress: (l) => process.stderr.write(`INFO: ${l}\n`),
});
const results = new Map<ScenarioName, DrillResult[]>();
try {
  for (const name of names) {
    if (SCENARIOS[name].needsNetns && sandbox.network.mode !== 'netns') {
      process.stderr.write(`WARNING: skipping ${name}: it needs network namespaces (run as root)\n`);
      continue;
    }
    for (let i = 0; i < runs; i++) {
      try {
        const r = await runDrill(sandbox, SCENARIOS[name], { log: (l) => process.stderr.write(`INFO: ${l}\n`) });
        process.stdout.write(`${JSON.stringify({ ...r, events: undefined, observers_ms: observers(r) })}\n`);
        results.set(name, [...(results.get(name) ?? []), r]);
      } catch (error) {
        process.stderr.write(`ERROR: ${name} run ${i + 1}: ${(error as Error).message}\n`);
      }
    }
  }
} finally {
  await sandbox.down();
  rmSync(parent, { recursive: true, force: true });
}

process.stdout.write(`\nfailover drills, ${runs} run(s) each, ${sandbox.network.mode} sandbox, latency profile ${latency.name} (times from the fault)\n`);
for (const [name, list] of results) {
  const ok = list.filter((r) => r.ok).length;
  process.stdout.write(`\n${name}: ${ok}/${list.length} ok, acked writes lost ${list.reduce((n, r) => n + (r.acked_writes_lost ?? 0) + (r.direct_acked_writes_lost ?? 0), 0)}, max writable primaries ${Math.max(...list.map((r) => r.max_writable_primaries))}\n`);
  process.stdout.write(`${row('write_outage_ms', list.map((r) => r.write_outage_ms))}\n`);
  for (const step of ['detected', 'saga_claimed', 'fenced', 'promoted', 'vip_moved', 'first_write_via_vip'] as const) {
    process.stdout.write(`${row(step, list.map((r) => r.timings_ms[step]))}\n`);
    if (step === 'detected') process.stdout.write(`${row('observers', list.map(observers))}\n`);
  }
  process.stdout.write(`${row('claim_after_observers', list.map(claimAfterObservers))}\n`);
}
