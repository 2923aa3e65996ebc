/**
 * Decision-engine benchmark (`npm run bench:engine`): p50/p99 time of one `decide()` call for
 * clusters of 3, 10 and 50 nodes (one primary, a witness, the rest standbys), healthy and with a
 * crashed primary (the failover path: consensus rules plus candidate ranking). Prints a table;
 * asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { decide } from '../core/engine/index.js';
import type { ClusterSnapshot } from '../core/model.js';
import { clusterSnapshot } from '../test/support/snapshot-builder.js';

interface Row {
  nodes: number;
  state: string;
  code: string;
  runs: number;
  p50: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function measure(snapshot: ClusterSnapshot, now: number, runs: number): { code: string; times: number[] } {
  let code = '';
  for (let i = 0; i < Math.min(500, runs); i++) code = decide(snapshot, now).code; // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    code = decide(snapshot, now).code;
    times.push(performance.now() - t0);
  }
  return { code, times: times.sort((a, b) => a - b) };
}

const rows: Row[] = [];
for (const nodes of [3, 10, 50]) {
  const runs = nodes >= 50 ? 2000 : 5000;
  const states: Array<[string, ReturnType<typeof clusterSnapshot>]> = [
    ['healthy', clusterSnapshot({ standbys: nodes - 2 })],
    ['primary crashed', clusterSnapshot({ standbys: nodes - 2 }).crashPrimary()],
    ['primary silent, lease expired', clusterSnapshot({ standbys: nodes - 2 }).silencePrimary().expireLease()],
  ];
  for (const [state, b] of states) {
    const { code, times } = measure(b.build(), b.now, runs);
    rows.push({ nodes, state, code, runs, p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] ?? Number.NaN });
  }
}

const header = ['Nodes', 'State', 'Decision', 'Runs', 'p50 (ms)', 'p99 (ms)', 'max (ms)'];
const cells = rows.map((r) => [String(r.nodes), r.state, r.code, String(r.runs), r.p50.toFixed(3), r.p99.toFixed(3), r.max.toFixed(3)]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
const line = (c: string[]): string => c.map((x, i) => ` ${x.padEnd(widths[i] ?? 0)} `).join('|');
console.log(`decide() on Node ${process.version}, ${process.arch}`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w + 2)).join('+'));
for (const c of cells) console.log(line(c));
