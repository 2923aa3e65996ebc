/**
 * `npm run bench:follow [-- RUNS [SCENARIO …]]`: how long after a failover every node streams from
 * the new primary again. Each failover drill (default crash-primary and kill-primary-host) RUNS
 * times (default 3) on one sandbox at its defaults (`auto_rejoin` on: the controller rejoins the old
 * primary by itself), healed before every run. Every 200 ms each node's own server is asked
 * whom its WAL receiver streams from; a run prints, from the controller's promotion event, when each
 * sibling and the old primary first streamed from the new primary, and any node left streaming
 * from another standby (cascaded). A benchmark, not a test: it prints figures and never asserts
 * (target, docs/drills.md: every node streaming within 2 minutes of a heal).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../build/index.js';
import { Sandbox } from '../sandbox/index.js';
import { freePort } from '../sandbox/ports.js';
import { SCENARIOS, nodeById, pgNodes, query, runDrill, scenario, sleep, snapshotOf, socketTarget, storeFor, type ScenarioName } from '../sandbox/drills/index.js';
import type { PlanNode } from '../sandbox/cluster-plan.js';
import { quantile } from './peers/stats.js';

const args = process.argv.slice(2);
const runs = Number(args[0] ?? 3);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`ERROR: RUNS must be a positive integer, got "${args[0]}"\n`);
  process.exit(1);
}
const names: ScenarioName[] = args.length > 1 ? args.slice(1).map((n) => scenario(n).name) : ['crash-primary', 'kill-primary-host'];
const WATCH_MS = 150_000;

/** Whom each node's WAL receiver streams from (a node name, null when it does not), and since when. */
class UpstreamWatch {
  private readonly current = new Map<string, { upstream: string | null; since: number }>();
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly nodes: PlanNode[]) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await Promise.all(
          this.nodes.map(async (n) => {
            const upstream = await upstreamOf(n, this.nodes);
            if (this.current.get(n.node_name)?.upstream !== upstream) this.current.set(n.node_name, { upstream, since: Date.now() });
          }),
        );
        await sleep(200);
      }
    })();
  }

  /** Since when `node` has streamed from `upstream` without a break; null when it does not now. */
  streamingSince(node: string, upstream: string): number | null {
    const c = this.current.get(node);
    return c?.upstream === upstream ? c.since : null;
  }

  upstream(node: string): string | null {
    return this.current.get(node)?.upstream ?? null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** The node `n` streams from, by its sender's address and port; null when it does not stream. */
async function upstreamOf(n: PlanNode, nodes: PlanNode[]): Promise<string | null> {
  try {
    const [row] = await query<{ host: string | null; port: number | null }>(socketTarget(n), "SELECT sender_host AS host, sender_port AS port FROM pg_stat_wal_receiver WHERE status = 'streaming'", 1000);
    if (!row?.host) return null;
    return nodes.find((m) => m.address === row.host && m.port === Number(row.port))?.node_name ?? `${row.host}:${row.port}`;
  } catch {
    return null;
  }
}

await ensureBuilt((line) => process.stderr.write(`INFO: ${line}\n`));
const parent = mkdtempSync(join(tmpdir(), 'pgv-bench-follow-'));
chmodSync(parent, 0o755);
const sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), progress: (l) => process.stderr.write(`INFO: ${l}\n`) });
const { store, close } = storeFor(sandbox);
const watch = new UpstreamWatch(pgNodes(sandbox));
const figures = new Map<ScenarioName, { siblings: (number | null)[]; old: (number | null)[]; all: (number | null)[]; cascaded: number }>();
watch.start();
try {
  for (const name of names) {
    for (let i = 0; i < runs; i++) {
      try {
        const r = await runDrill(sandbox, SCENARIOS[name], { log: (l) => process.stderr.write(`INFO: ${l}\n`) });
        const events = await store.listEvents(sandbox.state.clusterId, { sinceMs: Date.now() - 120_000 });
        const promote = events.filter((e) => e.event === 'repmgrd_failover_promote' && e.successful).sort((a, b) => b.timestamp - a.timestamp)[0];
        const primary = nodeById(sandbox, (await snapshotOf(store, sandbox)).cluster.primary_node_id);
        const old = sandbox.plan.nodes.find((n) => n.node_name === r.old_primary);
        if (!promote || !old) throw new Error(`no promotion recorded (drill ok=${r.ok}: ${r.problems.join('; ')})`);
        const others = pgNodes(sandbox).filter((n) => n !== primary);
        const since = (n: PlanNode): number | null => {
          const t = watch.streamingSince(n.node_name, primary.node_name);
          return t === null ? null : Math.max(0, t - promote.timestamp);
        };
        for (const until = promote.timestamp + WATCH_MS; Date.now() < until && others.some((n) => since(n) === null); ) await sleep(250);
        const cascaded = others.flatMap((n) => {
          const up = watch.upstream(n.node_name);
          return up !== null && up !== primary.node_name ? [`${n.node_name} streams from ${up}`] : [];
        });
        const siblings = others.filter((n) => n !== old).map((n) => ({ node: n.node_name, ms: since(n) }));
        const oldMs = since(old);
        const all = others.every((n) => since(n) !== null) ? Math.max(...others.map((n) => since(n) as number)) : null;
        process.stdout.write(`${JSON.stringify({ scenario: name, run: i + 1, ok: r.ok, old_primary: old.node_name, new_primary: primary.node_name, promoted_ms_from_fault: r.timings_ms.promoted, streaming_ms_from_promotion: { siblings, old_primary: oldMs, all }, cascaded })}\n`);
        const f = figures.get(name) ?? { siblings: [], old: [], all: [], cascaded: 0 };
        f.siblings.push(...siblings.map((s) => s.ms));
        f.old.push(oldMs);
        f.all.push(all);
        f.cascaded += cascaded.length;
        figures.set(name, f);
      } catch (error) {
        process.stderr.write(`ERROR: ${name} run ${i + 1}: ${(error as Error).message}\n`);
      }
    }
  }
} finally {
  await watch.stop();
  close();
  await sandbox.down();
  rmSync(parent, { recursive: true, force: true });
}

const row = (label: string, values: (number | null)[]): string => {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const missing = values.length - v.length;
  if (v.length === 0) return `  ${label.padEnd(20)} never within ${WATCH_MS / 1000} s (n=${values.length})`;
  const f = (n: number): string => `${(n / 1000).toFixed(1).padStart(6)} s`;
  return `  ${label.padEnd(20)} p50 ${f(quantile(v, 0.5))}  max ${f(v[v.length - 1] as number)}  (n=${values.length}${missing ? `, ${missing} not within ${WATCH_MS / 1000} s` : ''})`;
};
process.stdout.write(`\nstreaming from the new primary, time from the promotion (${runs} run(s) each, ${sandbox.network.mode} sandbox, auto_rejoin on)\n`);
for (const [name, f] of figures) {
  process.stdout.write(`\n${name}: ${f.cascaded} node(s) left cascaded\n${row('siblings', f.siblings)}\n${row('old primary', f.old)}\n${row('every node', f.all)}\n`);
}
