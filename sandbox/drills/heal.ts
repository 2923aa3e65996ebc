/**
 * Looking at the sandbox's cluster from a drill (its store, its nodes, a node's state, a query over
 * a host's Unix socket) and repairing it: after a drill, {@link heal} brings the sandbox back to a
 * healthy 3-node state (network restored, agents running, a fenced or stopped former primary
 * rejoined with `node rejoin --force-rewind`), so drills can share one sandbox.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { PgvigilError } from '../../core/errors.js';
import type { ClusterSnapshot } from '../../core/model.js';
import type { Sandbox } from '../index.js';
import type { PlanNode } from '../cluster-plan.js';
import { lookupOsUser } from '../../shell/run-as.js';
import type { PgTarget } from '../writers.js';
import type { NodeState } from './scenario.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function storeFor(sandbox: Sandbox): { store: DynamoStateStore; close: () => void } {
  const dynamo = new DynamoDBClient(sandbox.clientConfig);
  return { store: new DynamoStateStore(dynamo, sandbox.deployment.tableName), close: () => dynamo.destroy() };
}

export async function snapshotOf(store: DynamoStateStore, sandbox: Sandbox): Promise<ClusterSnapshot> {
  const loaded = await store.load(sandbox.state.clusterId);
  if (!loaded) throw new PgvigilError('NOT_FOUND', `sandbox cluster ${sandbox.state.clusterId} has no cluster record`);
  return loaded.snapshot;
}

export function pgNodes(sandbox: Sandbox): PlanNode[] {
  return sandbox.plan.nodes.filter((n) => n.postgres);
}

export function nodeById(sandbox: Sandbox, id: number | null | undefined): PlanNode {
  const node = sandbox.plan.nodes.find((n) => n.node_id === id);
  if (!node) throw new PgvigilError('NOT_FOUND', `sandbox has no node with id ${String(id)}`);
  return node;
}

/** The node's own server, through its Unix socket (not affected by a network cut). */
export function socketTarget(node: PlanNode): PgTarget {
  return { host: node.socketDirectory, port: node.port };
}

/** One query as `postgres` on `target`, in a session of its own, bounded by `timeoutMs`. */
export async function query<R extends Record<string, unknown>>(target: PgTarget, sql: string, timeoutMs = 2000): Promise<R[]> {
  const client = new pg.Client({ host: target.host, port: target.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Where a PostgreSQL node stands, looked at from its own host. */
export async function nodeState(sandbox: Sandbox, node: PlanNode): Promise<NodeState> {
  const fenced = existsSync(join(node.dataDirectory, 'pgvigil.fence'));
  let row: { recovery: boolean; receiver: string | null } | undefined;
  try {
    [row] = await query<{ recovery: boolean; receiver: string | null }>(
      socketTarget(node),
      'SELECT pg_is_in_recovery() AS recovery, (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver',
    );
  } catch {
    row = undefined;
  }
  if (!row) return fenced ? 'fenced' : sandbox.supervisor.isHostDown(node.node_name) ? 'stopped' : 'down';
  if (!row.recovery) return 'primary';
  if (fenced) return 'fenced';
  return row.receiver === 'streaming' ? 'standby_streaming' : 'standby';
}

function agentRunning(sandbox: Sandbox, name: string): boolean {
  return sandbox.supervisor.status().some((s) => s.host === name && s.name === 'agent' && s.running);
}

/** Stops a node's server (fast), inside its host, as the PostgreSQL user; quiet when it is not running. */
export async function stopPostgres(sandbox: Sandbox, node: PlanNode): Promise<void> {
  if (!existsSync(join(node.dataDirectory, 'postmaster.pid'))) return;
  const user = lookupOsUser(sandbox.options.osUser ?? 'postgres');
  await sandbox.network.exec(node.node_name, '/usr/lib/postgresql/15/bin/pg_ctl', ['-D', node.dataDirectory, '-m', 'fast', '-w', '-t', '30', 'stop'], {
    uid: user.uid,
    gid: user.gid,
    env: { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: '/',
    timeoutMs: 40_000,
  });
}

/** Rejoins one node (network restored, server stopped, `node rejoin --force-rewind`, agent running). */
export async function rejoinNode(sandbox: Sandbox, node: PlanNode): Promise<void> {
  if (sandbox.network.mode === 'netns' && sandbox.network.isCut(node.node_name)) await sandbox.network.restore(node.node_name);
  await sandbox.reviveHost(node.node_name);
  await stopPostgres(sandbox, node);
  await sandbox.agent(node.node_name, ['node', 'rejoin', '--force-rewind'], 300_000);
  if (!agentRunning(sandbox, node.node_name)) await sandbox.startAgent(node.node_name);
}

async function streamingStandbys(primary: PlanNode): Promise<number> {
  try {
    const [row] = await query<{ n: string }>(socketTarget(primary), "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'");
    return Number(row?.n ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Brings the sandbox back to a healthy 3-node state: every cut host restored, every agent running,
 * every PostgreSQL node other than the primary streaming from it (rejoined when it is not), no
 * operation in progress, the VIP on the primary. Returns what it did.
 */
export async function heal(sandbox: Sandbox, log: (line: string) => void = () => undefined, timeoutMs = 180_000): Promise<string[]> {
  const done: string[] = [];
  const { store, close } = storeFor(sandbox);
  try {
    for (const host of sandbox.plan.nodes) {
      if (sandbox.network.mode === 'netns' && sandbox.network.isCut(host.node_name)) {
        await sandbox.network.restore(host.node_name);
        done.push(`${host.node_name}: network restored`);
      }
    }
    const deadline = Date.now() + timeoutMs;
    // Wait for any saga in progress to finish before judging who is the primary.
    for (;;) {
      const snapshot = await snapshotOf(store, sandbox);
      if (!snapshot.cluster.operation) break;
      if (Date.now() > deadline) throw new PgvigilError('SYS_FAILURE', `heal: operation ${snapshot.cluster.operation.kind} still in progress`);
      await sleep(250);
    }
    const snapshot = await snapshotOf(store, sandbox);
    const primary = nodeById(sandbox, snapshot.cluster.primary_node_id);
    for (const node of sandbox.plan.nodes) {
      if (node === primary || !node.postgres) continue;
      const state = await nodeState(sandbox, node);
      if (state === 'standby_streaming' && !sandbox.supervisor.isHostDown(node.node_name)) continue;
      log(`heal: ${node.node_name} is ${state}: node rejoin --force-rewind`);
      await rejoinNode(sandbox, node);
      done.push(`${node.node_name}: rejoined (was ${state})`);
    }
    for (const node of sandbox.plan.nodes) {
      if (!agentRunning(sandbox, node.node_name)) {
        await sandbox.startAgent(node.node_name);
        done.push(`${node.node_name}: agent started`);
      }
    }
    const want = pgNodes(sandbox).length - 1;
    for (;;) {
      const s = await snapshotOf(store, sandbox);
      const now = Date.now();
      const fresh = new Set(s.heartbeats.filter((h) => now - h.sent_at < 5000).map((h) => h.node_id));
      const vipOk = sandbox.vip?.target?.instanceId === primary.instanceId;
      const standbys = await streamingStandbys(primary);
      const fencedRecords = s.nodes.filter((n) => n.fenced).length;
      // The load balancer's writer route sends its connections to the primary alone.
      const routeOk = !sandbox.routes || sandbox.routes.writer.healthy.join(',') === primary.node_name;
      // The controller judges by heartbeats: a rejoined standby counts once its own agent reports it
      // streaming, not when the primary first lists it (the next drill's pre-checks read heartbeats).
      const reportedStreaming = s.heartbeats.filter((h) => h.server?.in_recovery === true && h.server.wal_receiver_status === 'streaming' && fresh.has(h.node_id)).length;
      if (
        !s.cluster.operation &&
        s.cluster.lease &&
        vipOk &&
        routeOk &&
        standbys >= want &&
        reportedStreaming >= want &&
        fencedRecords === 0 &&
        sandbox.plan.nodes.every((n) => fresh.has(n.node_id))
      ) {
        return done;
      }
      if (Date.now() > deadline) {
        throw new PgvigilError('SYS_FAILURE', `heal: the sandbox is not healthy after ${timeoutMs / 1000} s`, {
          detail: `operation=${s.cluster.operation?.kind ?? 'none'} lease=${s.cluster.lease ? 'held' : 'none'} vip=${sandbox.vip?.target?.instanceId ?? 'none'} (primary ${primary.instanceId}) writer route=${sandbox.routes?.writer.healthy.join(',') ?? '-'} streaming=${standbys}/${want} (reported ${reportedStreaming}) fenced records=${fencedRecords} reporting=${[...fresh].join(',')}`,
        });
      }
      await sleep(250);
    }
  } finally {
    close();
  }
}
