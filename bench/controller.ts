/**
 * Controller benchmark (`npm run bench:controller`), against a private moto server:
 *
 * 1. evaluator time per cluster (one healthy cluster of primary + 2 standbys + witness, evaluated
 *    repeatedly: strong Query → decide → lease observation write → conditions);
 * 2. sweep time for 1, 100 and 1,000 such clusters (default concurrency 10);
 * 3. DynamoDB request units and Lambda invocations per cluster-hour at default settings, from the
 *    item sizes actually stored, and the monthly cost they imply at public on-demand prices.
 *
 * moto is a single-threaded Python emulator, so absolute times are pessimistic compared with
 * DynamoDB (its Query time grows with the table: the 1,000-cluster sweep mostly measures moto).
 * Prints figures; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { createStateTable } from '../adapters/dynamo-table.js';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import { systemClock } from '../adapters/system-clock.js';
import type { ClusterSnapshot } from '../core/model.js';
import { DEFAULT_CLUSTER_SETTINGS } from '../core/model.js';
import type { ControllerDeps, Invocation } from '../functions/controller.js';
import { buildDeps } from '../functions/environment.js';
import { evaluateCluster, mapLimit, sweep } from '../functions/evaluator.js';
import { silentLogger } from '../functions/log.js';
import { startMoto } from '../test/support/moto.js';
import { SnapshotBuilder } from '../test/support/snapshot-builder.js';

/** Public on-demand prices, us-east-1, as published by AWS (checked 2025; state them, they change). */
const PRICES = {
  /** DynamoDB on-demand, per million write request units (after the November 2024 reduction). */
  writeRequestUnitPerMillion: 0.625,
  /** DynamoDB on-demand, per million read request units. */
  readRequestUnitPerMillion: 0.125,
  /** Lambda requests, per million. */
  lambdaRequestPerMillion: 0.2,
  /** Lambda duration, per GB-second (x86). */
  lambdaGbSecond: 0.0000166667,
  /** CloudWatch Logs ingestion per GB (the EMF metric lines). */
  logsIngestionPerGb: 0.5,
  /** CloudWatch custom metric per month (first 10,000 metrics), prorated by the hour it is emitted. */
  customMetricMonth: 0.3,
};
/** Metric series a healthy cluster emits every evaluation (HeartbeatAgeSeconds, ReplicationLagBytes, DecisionLatencyMs). */
const STEADY_METRICS_PER_CLUSTER = 3;
const LAMBDA_MEMORY_GB = 0.5; // the CDK construct's 512 MB
const HOURS_PER_MONTH = 730;
const SWEEPS_PER_HOUR = 60; // the CDK construct's default rate(1 minute)

const noHosts = {
  send: async (): Promise<string> => {
    throw new Error('the benchmark clusters are healthy: no host action expected');
  },
  wait: async () => ({ status: 'Failed' as const, exitCode: null, output: '' }),
};
const noVip = { current: async () => null, moveTo: async () => undefined, detach: async () => undefined };
const noFencer = { stop: async () => undefined, start: async () => undefined };

function stats(times: number[]): { mean: number; p50: number; p95: number } {
  const s = [...times].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: at(0.5), p95: at(0.95) };
}

/** DynamoDB's item size rule: attribute names plus values (numbers ≈ 1 byte per 2 digits + 1). */
function attributeSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\./g, '').length / 2) + 1;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.B !== undefined) return v.B.length;
  if (v.L !== undefined) return 3 + v.L.reduce((a, x) => a + 1 + attributeSize(x), 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((a, [k, x]) => a + 1 + Buffer.byteLength(k) + attributeSize(x), 0);
  if (v.SS !== undefined) return v.SS.reduce((a, x) => a + Buffer.byteLength(x), 0);
  return 0;
}
function itemSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((a, [k, v]) => a + Buffer.byteLength(k) + attributeSize(v), 0);
}

function clusterSnapshot(id: string, now: number): ClusterSnapshot {
  const built = new SnapshotBuilder({ now }).build();
  return {
    // The lease observation already matches the RVN: a sweep reads and decides, the steady state.
    cluster: { ...built.cluster, cluster_id: id, lease_observation: built.cluster.lease ? { rvn: built.cluster.lease.rvn, first_seen_at: now } : null, settings: { ...DEFAULT_CLUSTER_SETTINGS } },
    nodes: built.nodes.map((n) => ({ ...n, cluster_id: id, instance_id: `i-${id}-${n.node_id}` })),
    heartbeats: built.heartbeats.map((h) => ({ ...h, cluster_id: id })),
  };
}

/**
 * Seeds clusters fast: one cluster is written through the store (so the layout is the store's own),
 * then its items are cloned under the other cluster ids with BatchWriteItem, 25 at a time.
 */
async function seed(client: DynamoDBClient, store: DynamoStateStore, table: string, ids: string[], now: number): Promise<void> {
  const [first, ...rest] = ids;
  if (first === undefined) return;
  const s = clusterSnapshot(first, now);
  await store.createCluster(s.cluster);
  for (const n of s.nodes) await store.putNode(n);
  for (const h of s.heartbeats) await store.putHeartbeat(h, false);
  const template = (await client.send(new ScanCommand({ TableName: table }))).Items ?? [];
  const json = JSON.stringify(template);
  const items: Record<string, AttributeValue>[] = [];
  for (const id of rest) items.push(...(JSON.parse(json.replaceAll(`C#${first}`, `C#${id}`).replaceAll(`"S":"${first}"`, `"S":"${id}"`)) as Record<string, AttributeValue>[]));
  const batches: Record<string, AttributeValue>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  await mapLimit(batches, 4, async (batch) => {
    let pending = batch.map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const r = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
      pending = (r.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  });
}

async function main(): Promise<void> {
  const moto = await startMoto();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void moto.stop().finally(() => process.exit(130));
    });
  }
  try {
    const client = new DynamoDBClient(moto.clientConfig);
    let emfBytes = 0;
    let emfLines = 0;
    const metrics = new EmfMetrics((line) => {
      emfBytes += Buffer.byteLength(line) + 1;
      emfLines += 1;
    });
    // The controller's clock stands still at the seeding time, so the seeded heartbeats stay fresh
    // however long a slow machine takes (times are measured with performance.now()).
    let frozenNow = Date.now();
    const clock = { now: () => frozenNow, sleep: systemClock.sleep };
    // The controller as the Lambda builds it, with no topic, and without the AWS calls a healthy
    // cluster never needs (host actions, route moves, flight records), so only the evaluation is timed.
    const deps = (table: string): ControllerDeps =>
      buildDeps(
        { table, topicArn: null, documentPrefix: 'pgvigil' },
        {
          clientConfig: moto.clientConfig,
          clients: { dynamodb: client },
          clock,
          log: silentLogger,
          overrides: { hosts: noHosts, vip: noVip, fencer: noFencer, metrics, recorder: undefined, route53: undefined },
        },
      );
    const inv = (): Invocation => ({ owner: `bench-${performance.now()}`, remainingMs: () => 300_000 });

    // 1. One cluster, evaluated again and again.
    await createStateTable(client, 'bench-one');
    const one = deps('bench-one');
    frozenNow = Date.now();
    await seed(client, one.store as DynamoStateStore, 'bench-one', ['c-0'], frozenNow);
    for (let i = 0; i < 10; i++) await evaluateCluster(one, inv(), 'c-0'); // warm-up
    const times: number[] = [];
    emfBytes = 0;
    emfLines = 0;
    const runs = 200;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await evaluateCluster(one, inv(), 'c-0');
      times.push(performance.now() - t0);
      if (r.code !== 'healthy') throw new Error(`expected a healthy cluster, got ${r.code}: ${r.reasons.join('; ')}`);
      metrics.flush();
    }
    const emfBytesPerEvaluation = emfBytes / runs;
    const emfLinesPerEvaluation = emfLines / runs;
    const e = stats(times);
    console.log('pgvigil controller benchmark (moto server, one process; times in ms)\n');
    console.log(`evaluator, one healthy cluster (4 nodes), ${runs} runs: mean ${e.mean.toFixed(1)}  p50 ${e.p50.toFixed(1)}  p95 ${e.p95.toFixed(1)}`);

    // 2. Sweeps.
    console.log('\nsweep (listClusters + evaluate each, concurrency 10):');
    console.log('clusters | seed s | sweep ms | per cluster ms');
    const sweepMsPerCluster = new Map<number, number>();
    for (const n of [1, 100, 1000]) {
      const table = `bench-sweep-${n}`;
      await createStateTable(client, table);
      const d = deps(table);
      const t0 = performance.now();
      frozenNow = Date.now();
      await seed(client, d.store as DynamoStateStore, table, Array.from({ length: n }, (_, i) => `c-${String(i).padStart(4, '0')}`), frozenNow);
      const seedS = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const result = await sweep(d, inv());
      const ms = performance.now() - t1;
      metrics.flush();
      if (result.failed.length > 0 || result.clusters !== n) throw new Error(`sweep of ${n}: ${JSON.stringify(result.failed.slice(0, 3))}`);
      sweepMsPerCluster.set(n, ms / n);
      console.log(`${String(n).padStart(8)} | ${seedS.toFixed(1).padStart(6)} | ${ms.toFixed(0).padStart(8)} | ${(ms / n).toFixed(2).padStart(14)}`);
    }

    // 3. Cost per cluster-hour at default settings, from the stored item sizes.
    const scan = await client.send(new ScanCommand({ TableName: 'bench-one' }));
    const items = scan.Items ?? [];
    const sizeOf = (prefix: string): number[] => items.filter((i) => (i.sk?.S ?? '').startsWith(prefix)).map(itemSize);
    const heartbeatBytes = Math.max(...sizeOf('S#HB#'));
    const clusterBytes = Math.max(...sizeOf('S#CLUSTER'));
    const stateBytes = items.filter((i) => (i.sk?.S ?? '').startsWith('S#')).reduce((a, i) => a + itemSize(i), 0);
    const nodes = 4;
    const hbPerHour = 3600 / DEFAULT_CLUSTER_SETTINGS.heartbeat_interval_secs;
    const wcuHeartbeat = Math.ceil(heartbeatBytes / 1024);
    const wcuCluster = Math.ceil(clusterBytes / 1024);
    const agentWrites = nodes * hbPerHour * wcuHeartbeat + hbPerHour * wcuCluster; // heartbeats + the primary's lease renewal
    const sweepReads = SWEEPS_PER_HOUR * Math.ceil(stateBytes / 4096); // one strongly consistent Query per sweep
    const sweepWrites = SWEEPS_PER_HOUR * wcuCluster; // the lease observation (the RVN changed since the last sweep)
    const wcu = agentWrites + sweepWrites;
    const rcu = sweepReads;
    const ddbMonth = (HOURS_PER_MONTH * (wcu * PRICES.writeRequestUnitPerMillion + rcu * PRICES.readRequestUnitPerMillion)) / 1e6;
    console.log('\nper cluster-hour at default settings (healthy cluster: primary, 2 standbys, witness):');
    console.log(`  item sizes: heartbeat ${heartbeatBytes} B, cluster record ${clusterBytes} B, whole state ${stateBytes} B`);
    console.log(`  agent writes: ${nodes} heartbeats every ${DEFAULT_CLUSTER_SETTINGS.heartbeat_interval_secs} s + the lease renewal = ${agentWrites} WRU`);
    console.log(`  evaluator: ${SWEEPS_PER_HOUR} sweeps × (1 strong Query = ${Math.ceil(stateBytes / 4096)} RRU, 1 lease observation = ${wcuCluster} WRU)`);
    console.log(`  total: ${wcu} WRU + ${rcu} RRU per cluster-hour → $${ddbMonth.toFixed(4)} per cluster-month (DynamoDB on-demand)`);
    console.log('  stream-triggered invocations: 0 in a healthy cluster (the filter drops periodic heartbeats and lease renewals)');
    console.log('\nLambda per month (sweeps are shared by every cluster of a deployment; one sweep invocation per minute):');
    console.log('Lambda duration two ways: measured against moto, and estimated for DynamoDB at ~10 ms per request (Query + decide ≈ 12 ms per cluster, 10 at a time).');
    const metricsMonth = STEADY_METRICS_PER_CLUSTER * PRICES.customMetricMonth;
    console.log('clusters | invocations/cluster-h | GB-s/cluster-h moto | GB-s/cluster-h AWS | Lambda $/cluster-month (AWS est.) | DynamoDB $/cluster-month | logs $/cluster-month | metrics $/cluster-month | total $/cluster-month');
    for (const n of [1, 100, 1000]) {
      const invocations = SWEEPS_PER_HOUR / n;
      const gbs = (perClusterMs: number): number => SWEEPS_PER_HOUR * (0.05 / n + perClusterMs / 1000) * LAMBDA_MEMORY_GB; // + ~50 ms per invocation
      const gbMoto = gbs(sweepMsPerCluster.get(n) ?? 0);
      const gbAws = gbs(n === 1 ? 12 : 1.2);
      const lambdaMonth = HOURS_PER_MONTH * ((invocations * PRICES.lambdaRequestPerMillion) / 1e6 + gbAws * PRICES.lambdaGbSecond);
      const logsMonth = (HOURS_PER_MONTH * SWEEPS_PER_HOUR * emfBytesPerEvaluation * PRICES.logsIngestionPerGb) / 1024 ** 3;
      const total = lambdaMonth + ddbMonth + logsMonth + metricsMonth;
      console.log(
        `${String(n).padStart(8)} | ${invocations.toFixed(3).padStart(21)} | ${gbMoto.toFixed(3).padStart(19)} | ${gbAws.toFixed(3).padStart(18)} | ${lambdaMonth.toFixed(4).padStart(33)} | ${ddbMonth.toFixed(4).padStart(24)} | ${logsMonth.toFixed(4).padStart(20)} | ${metricsMonth.toFixed(4).padStart(23)} | ${total.toFixed(4).padStart(21)}`,
      );
    }
    console.log(`\nEMF metric lines: ${emfLinesPerEvaluation.toFixed(1)} per evaluation, ${emfBytesPerEvaluation.toFixed(0)} B`);
    console.log(
      `prices (us-east-1 on-demand): DynamoDB $${PRICES.writeRequestUnitPerMillion}/M WRU, $${PRICES.readRequestUnitPerMillion}/M RRU; Lambda $${PRICES.lambdaRequestPerMillion}/M requests, $${PRICES.lambdaGbSecond}/GB-s at ${LAMBDA_MEMORY_GB * 1024} MB; CloudWatch Logs $${PRICES.logsIngestionPerGb}/GB; custom metrics $${PRICES.customMetricMonth}/metric-month (${STEADY_METRICS_PER_CLUSTER} per cluster; per-node series are deliberately not emitted: they would cost $0.30 each per month).`,
    );
    console.log('not included: free tiers, storage (a few KB per cluster plus the event log), Streams reads by Lambda (free), EventBridge rule (free), SNS on events only, sagas (rare).');
    console.log('moto answers each Query in time that grows with the table, so its 1,000-cluster sweep is far slower than DynamoDB would be.');
  } finally {
    await moto.stop();
  }
}

await main();
