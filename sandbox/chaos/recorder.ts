/**
 * What the chaos campaign records while it runs, for the checkers to judge afterwards: the writer
 * through the Elastic IP, the writability probe on every node, and samples of the VIP's target,
 * the cluster record and every node's own view of itself. Everything is read directly — the
 * writers and probes through the VIP and the hosts' Unix sockets, the cluster record from the
 * emulator bypassing the AWS proxy — so the faults never blur what the checkers see.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { operationWindowMs } from '../../core/engine/operation.js';
import type { Sandbox } from '../index.js';
import type { PlanNode } from '../cluster-plan.js';
import { query, socketTarget } from '../drills/heal.js';
import { DrillWriter, WritabilityProbe, ensureDrillTable, type PgTarget } from '../writers.js';
import type { ClusterSample, NodeSample, NodeView, VipSample } from './checkers.js';

/** A node's own view of itself, through its Unix socket (a network cut does not hide it). */
export async function nodeView(node: PlanNode, timeoutMs = 1500): Promise<NodeView> {
  try {
    const [row] = await query<{ recovery: boolean; receiver: string | null }>(
      socketTarget(node),
      'SELECT pg_is_in_recovery() AS recovery, (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver',
      timeoutMs,
    );
    if (!row) return 'down';
    if (!row.recovery) return 'primary';
    return row.receiver === 'streaming' ? 'standby_streaming' : 'standby';
  } catch {
    return 'down';
  }
}

export class CampaignRecorder {
  readonly writer: DrillWriter;
  readonly probe: WritabilityProbe;
  readonly cluster: ClusterSample[] = [];
  readonly vip: VipSample[] = [];
  readonly nodeSamples: NodeSample[] = [];
  /** The operation window of the cluster's settings, as last read (docs/controller.md). */
  operationWindowMs: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly dynamo: DynamoDBClient;
  readonly store: DynamoStateStore;
  private readonly nodes: PlanNode[];
  private readonly vipTarget: PgTarget;

  constructor(
    private readonly sandbox: Sandbox,
    readonly writerName: string,
  ) {
    // Bounded reads: a stopped emulator (a fault) must not stall the sampler, only skip samples.
    this.dynamo = new DynamoDBClient({ ...sandbox.clientConfig, maxAttempts: 1, requestHandler: { requestTimeout: 2000, connectionTimeout: 1000 } });
    this.store = new DynamoStateStore(this.dynamo, sandbox.deployment.tableName);
    this.nodes = sandbox.plan.nodes.filter((n) => n.postgres);
    this.vipTarget = { host: '127.0.0.1', port: sandbox.vip?.port ?? 0 };
    this.writer = new DrillWriter({ name: writerName, target: this.vipTarget });
    this.probe = new WritabilityProbe({ nodes: this.nodes.map((n) => ({ name: n.node_name, target: socketTarget(n) })) });
  }

  /** The latest node sample. */
  get lastNodes(): NodeSample | undefined {
    return this.nodeSamples[this.nodeSamples.length - 1];
  }

  /** The latest cluster sample. */
  get lastCluster(): ClusterSample | undefined {
    return this.cluster[this.cluster.length - 1];
  }

  /** The VIP target now (node name). */
  vipNode(): string | null {
    const id = this.sandbox.vip?.target?.instanceId;
    return id ? (this.sandbox.plan.nodes.find((n) => n.instanceId === id)?.node_name ?? null) : null;
  }

  private every(ms: number, work: () => Promise<void>): void {
    let busy = false;
    const tick = (): void => {
      if (busy) return;
      busy = true;
      const p = work()
        .catch(() => undefined)
        .finally(() => {
          busy = false;
          this.inFlight.delete(p);
        });
      this.inFlight.add(p);
    };
    tick();
    this.timers.push(setInterval(tick, ms));
  }

  async start(): Promise<void> {
    await ensureDrillTable(this.vipTarget);
    this.writer.start();
    this.probe.start();
    const names = new Map(this.sandbox.plan.nodes.map((n) => [n.node_id, n.node_name]));
    this.every(200, async () => {
      const target = this.vipNode();
      const last = this.vip[this.vip.length - 1];
      if (!last || last.target !== target) this.vip.push({ at: Date.now(), target });
    });
    this.every(1000, async () => {
      const loaded = await this.store.load(this.sandbox.state.clusterId);
      if (!loaded) return;
      const c = loaded.snapshot.cluster;
      this.operationWindowMs = operationWindowMs(c.settings);
      this.cluster.push({ at: Date.now(), term: c.term, primary: c.primary_node_id === null ? null : (names.get(c.primary_node_id) ?? String(c.primary_node_id)), operation: c.operation?.kind ?? null, paused: c.paused });
    });
    this.every(1000, async () => {
      const views = await Promise.all(this.nodes.map(async (n) => [n.node_name, await nodeView(n)] as const));
      this.nodeSamples.push({ at: Date.now(), nodes: Object.fromEntries(views) });
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await Promise.all([this.writer.stop(), this.probe.stop(), ...this.inFlight]);
    this.dynamo.destroy();
  }
}
