/**
 * `npm run bench:peers -- [ROUNDS] [--systems …] [--faults …] [--json]`: failover measured against
 * repmgr, Patroni and pg_auto_failover in one run, on this machine (docs/drills.md, "Against the
 * peers"). Installs the peers from Debian when missing, brings every selected system up (each in
 * network namespaces of its own), then runs ROUNDS rounds of every system × fault in rotating order,
 * each on a cluster reset to healthy, and prints p50 / max per system and fault, pgvigil's ratio to
 * each peer, lost acknowledged writes and the machine. A benchmark: it prints, never asserts.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import type { Sandbox } from '../../sandbox/index.js';
import { USAGE, parseBenchArgs, type BenchArgs } from './args.js';
import { AutoFailoverCluster } from './autofailover.js';
import type { PeerCluster } from './cluster.js';
import { ensurePeerPackages, type PeerSystem } from './install.js';
import { describeMachine, machineNow, otherCpu, ownLine, sampleCpu } from './machine.js';
import { measurePeer } from './measure.js';
import { PatroniCluster } from './patroni.js';
import { measurePgvigil, upPgvigil } from './pgvigil.js';
import { RepmgrCluster } from './repmgr.js';
import { renderTable, ratios, roundPlan, summarize, type RunRecord, type SystemName } from './stats.js';

let args: BenchArgs;
try {
  args = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`ERROR: ${(error as Error).message}\n${USAGE}\n`);
  process.exit(1);
}
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  process.stderr.write('ERROR: bench:peers needs root (network namespaces, apt-get)\n');
  process.exit(1);
}

const say = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
const peers = args.systems.filter((s): s is PeerSystem => s !== 'pgvigil');
await ensurePeerPackages(peers, say);

const machine = machineNow();
const cpuBefore = sampleCpu();
const base = mkdtempSync(join(tmpdir(), 'pgv-bench-peers-'));
chmodSync(base, 0o755);
const clusters = new Map<SystemName, PeerCluster>();
let sandbox: Sandbox | null = null;
let stopping: Promise<void> | null = null;
const teardown = (): Promise<void> =>
  (stopping ??= (async () => {
    for (const [name, c] of clusters) await c.down().catch((e: Error) => say(`WARNING: ${name} teardown: ${e.message}`));
    if (sandbox) await sandbox.down().catch((e: Error) => say(`WARNING: pgvigil teardown: ${e.message}`));
    rmSync(base, { recursive: true, force: true });
  })());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    say(`${sig}: tearing every cluster down`);
    void teardown().finally(() => process.exit(130));
  });
}

const records: RunRecord[] = [];
try {
  for (const system of args.systems) {
    say(`${system}: bringing up`);
    const dir = join(base, system);
    if (system === 'pgvigil') sandbox = await upPgvigil(dir, say);
    else if (system === 'repmgr') clusters.set(system, await RepmgrCluster.up(dir, say));
    else if (system === 'patroni') clusters.set(system, await PatroniCluster.up(dir, say));
    else clusters.set(system, await AutoFailoverCluster.up(dir, say));
  }
  for (let round = 0; round < args.rounds; round++) {
    for (const { system, fault } of roundPlan(args.systems, args.faults, round)) {
      say(`round ${round + 1}/${args.rounds}: ${system} ${fault}`);
      try {
        const cluster = clusters.get(system);
        const r = system === 'pgvigil' ? await measurePgvigil(sandbox as Sandbox, fault, round, say) : await measurePeer(cluster as PeerCluster, fault, { round, log: say });
        records.push(r);
        say(`  → to new primary ${r.to_new_primary_ms ?? '—'} ms, outage ${r.write_outage_ms ?? '—'} ms, lost ${r.acked_writes_lost ?? '?'}${r.in_place ? ' (restarted in place)' : ''}${r.ok ? '' : `; PROBLEMS: ${r.problems.join('; ')}`}`);
      } catch (error) {
        const detail = (error as { detail?: string }).detail;
        say(`ERROR: ${system} ${fault} round ${round + 1}: ${(error as Error).message}${detail ? `\n${detail}` : ''}`);
        records.push({ round, system, fault, ok: false, problems: [(error as Error).message], to_new_primary_ms: null, write_outage_ms: null, acked_writes: 0, acked_writes_lost: null, old_primary: '?', new_primary: null, in_place: false, notes: [] });
      }
    }
  }
} finally {
  machine.load_after = loadavg().map((x) => Math.round(x * 100) / 100);
  machine.other_cpu = otherCpu(cpuBefore, sampleCpu(), ownLine());
  await teardown();
}

const cells = summarize(records);
const settings = Object.fromEntries([...clusters].map(([name, c]) => [name, c.settings]));
if (args.json) {
  process.stdout.write(`${JSON.stringify({ machine, rounds: args.rounds, settings, records, cells, ratios: ratios(cells) }, null, 2)}\n`);
} else {
  process.stdout.write(`\nbench:peers, ${args.rounds} round(s); figures from the fault: to the first write acknowledged on the new primary, and the longest gap without an acknowledged write\n\n`);
  process.stdout.write(`${renderTable(cells)}\n\nmachine: ${describeMachine(machine)}\n`);
  for (const [name, s] of Object.entries(settings)) process.stdout.write(`${name}: ${s.join(', ')}\n`);
}
