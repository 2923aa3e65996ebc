/**
 * The kill-primary-host drill on a fresh sandbox, printed as one JSON object per run:
 * every process of the primary's host dies and its network goes down, while a writer inserts a
 * numbered row through the VIP every 50 ms and a probe watches every node's writability.
 *
 *   npx tsx bench/sandbox-kill-host.ts [RUNS]      (as root for namespaces; default 1 run)
 *
 * A benchmark, not a test: it prints figures and never asserts. A run that sees no failover within
 * 90 s prints `failover_happened: false` with the controller's last decision.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { ensureBuilt } from '../build/index.js';
import { Sandbox } from '../sandbox/index.js';
import { freePort } from '../sandbox/ports.js';
import { DrillWriter, WritabilityProbe, ackedWritesLost, ensureDrillTable, firstAckAfter, writeOutageMs } from '../sandbox/writers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function drill(): Promise<Record<string, unknown>> {
  // The sandbox's hosts run the built agent and its emulated AWS the built Lambda code.
  await ensureBuilt((line) => process.stderr.write(`INFO: ${line}\n`));
  const parent = mkdtempSync(join(tmpdir(), 'pgv-bench-'));
  chmodSync(parent, 0o755);
  const sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), progress: (l) => process.stderr.write(`INFO: ${l}\n`) });
  const dynamo = new DynamoDBClient(sandbox.clientConfig);
  const store = new DynamoStateStore(dynamo, sandbox.deployment.tableName);
  try {
    const vip = { host: '127.0.0.1', port: sandbox.vip?.port as number };
    await ensureDrillTable(vip);
    const writer = new DrillWriter({ name: 'vip', target: vip });
    const probe = new WritabilityProbe({
      nodes: sandbox.plan.nodes.filter((n) => n.postgres).map((n) => ({ name: n.node_name, target: { host: n.socketDirectory, port: n.port } })),
    });
    writer.start();
    probe.start();
    await sleep(3000);

    const old = sandbox.plan.primary;
    const fault = Date.now();
    await sandbox.supervisor.killHost(old.node_name);
    if (sandbox.network.mode === 'netns') await sandbox.network.cut(old.node_name);
    let vipMovedAt: number | null = null;
    const deadline = fault + 90_000;
    while (Date.now() < deadline) {
      const target = sandbox.vip?.target?.instanceId;
      if (vipMovedAt === null && target && target !== old.instanceId) vipMovedAt = Date.now();
      if (vipMovedAt !== null && firstAckAfter(writer.attempts, vipMovedAt) !== null) break;
      await sleep(100);
    }
    await sleep(1000);
    await writer.stop();
    await probe.stop();
    const end = Date.now();

    const loaded = await store.load(sandbox.state.clusterId);
    const events = await store.listEvents(sandbox.state.clusterId, { sinceMs: fault - 1000 });
    const at = (name: string) => {
      const e = events.find((x) => x.event === name);
      return e ? e.timestamp - fault : null;
    };
    const fresh = sandbox.plan.nodes.find((n) => n.node_id === loaded?.snapshot.cluster.primary_node_id);
    const lost =
      fresh && fresh !== old ? await ackedWritesLost({ host: fresh.socketDirectory, port: fresh.port }, 'vip', writer.acked()) : null;
    let lastDecision: unknown = null;
    try {
      const lines = readFileSync(join(sandbox.supervisor.logDir, 'root.controller.log'), 'utf8').trim().split('\n');
      lastDecision = JSON.parse(lines[lines.length - 1] ?? 'null');
    } catch {
      // no log
    }
    const first = firstAckAfter(writer.attempts, fault);
    return {
      scenario: 'kill-primary-host',
      mode: sandbox.network.mode,
      old_primary: old.node_name,
      new_primary: fresh && fresh !== old ? fresh.node_name : null,
      failover_expected: true,
      failover_happened: (loaded?.snapshot.cluster.term ?? 1) > 1,
      timings_ms: {
        saga_claimed: at('failover_started'),
        fenced: at('fence_applied'),
        promoted: at('standby_promote'),
        vip_moved: vipMovedAt === null ? null : vipMovedAt - fault,
        first_write_via_vip: first === null ? null : first - fault,
      },
      write_outage_ms: writeOutageMs(writer.attempts, fault, end),
      acked_writes: writer.acked().length,
      acked_writes_lost: lost === null ? null : lost.length,
      max_writable_primaries: probe.maxWritable().count,
      ...(loaded?.snapshot.cluster.term === 1 ? { last_decision: lastDecision } : {}),
    };
  } finally {
    dynamo.destroy();
    await sandbox.down();
    rmSync(parent, { recursive: true, force: true });
  }
}

const runs = Number(process.argv[2] ?? 1);
for (let i = 0; i < runs; i++) process.stdout.write(`${JSON.stringify(await drill())}\n`);
