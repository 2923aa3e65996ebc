/**
 * The drills' common runner (docs/sandbox.md): on a running sandbox, it makes sure the cluster is
 * healthy (a primary, two streaming standbys, the witness, every agent and the VIP on the primary),
 * starts the VIP writer, the direct writer on the primary's own host and the writability probe,
 * injects the scenario's fault, watches the VIP and the cluster record until the expected outcome
 * (or an observation window when no failover is expected), and computes the figures from the
 * writers, the event log and the VIP observations. After the drill, {@link heal} brings the
 * sandbox back to a healthy 3-node state (network restored, agents running, a fenced or stopped
 * former primary rejoined with `node rejoin --force-rewind`), so drills can share one sandbox.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { PgvigilError } from '../../core/errors.js';
import type { ClusterSnapshot, EventRecord } from '../../core/model.js';
import type { Sandbox } from '../index.js';
import type { PlanNode } from '../cluster-plan.js';
import { SANDBOX_DEFAULTS } from '../cluster-plan.js';
import { lookupOsUser } from '../../shell/run-as.js';
import { DrillWriter, WritabilityProbe, ackedWritesLost, ensureDrillTable, firstAckAfter, writeOutageMs, type PgTarget } from '../writers.js';

export { DRILL_NAMES, SCENARIO_NAMES, type ScenarioName } from './names.js';
import type { ScenarioName } from './names.js';

/**
 * Where the old primary ends: `fenced` (fence marker in its data directory, server stopped or
 * read-only), `stopped` (its host was stopped: the sandbox's EC2 StopInstances), `standby_streaming`
 * (rejoined), `standby` (in recovery, not streaming), `primary` (still the writable primary),
 * `down` (no server, no fence: should not happen after a drill).
 */
export type NodeState = 'fenced' | 'stopped' | 'standby_streaming' | 'standby' | 'primary' | 'down';

export interface DrillResult {
  scenario: ScenarioName;
  ok: boolean;
  /** Why `ok` is false (empty when ok). */
  problems: string[];
  mode: 'netns' | 'loopback';
  old_primary: string;
  new_primary: string;
  failover_expected: boolean;
  failover_happened: boolean;
  term_before: number;
  term_after: number;
  /** Each from the fault; null when it did not happen. */
  timings_ms: {
    detected: number | null;
    saga_claimed: number | null;
    fenced: number | null;
    promoted: number | null;
    vip_moved: number | null;
    first_write_via_vip: number | null;
    /** rejoin: the old primary streaming as a standby again. */
    rejoined?: number | null;
    /** kill-controller-mid-saga: the first controller frozen, the second started. */
    controller_killed?: number | null;
    controller_restarted?: number | null;
  };
  write_outage_ms: number;
  acked_writes: number;
  /** null when the final primary could not be asked (then `ok` is false). */
  acked_writes_lost: number | null;
  direct_acked_writes: number;
  direct_acked_writes_lost: number | null;
  /**
   * The writer through the sandbox's writer route (the load balancer's `/primary`, sandbox/routes.ts),
   * beside the one through the VIP; all null in a sandbox without routes (loopback).
   */
  route_acked_writes: number | null;
  route_acked_writes_lost: number | null;
  route_write_outage_ms: number | null;
  max_writable_primaries: number;
  old_primary_state: NodeState;
  vip_target: string | null;
  /** Promotions the controller recorded since the fault (kill-controller-mid-saga: exactly one). */
  promotions: number;
  events: { at_ms: number; node_id: number; event: string; successful: boolean; details: string }[];
  /**
   * The SNS notifications the drill caused: the stack's alarms changing state, as the sandbox's
   * subscriber received them (docs/sandbox.md, "Alarms and notifications").
   */
  notifications: { at_ms: number; alarm: string; from: string; to: string; subject: string | null }[];
  notes: string[];
}

/** What a scenario sees while it runs. */
export interface DrillContext {
  sandbox: Sandbox;
  store: DynamoStateStore;
  oldPrimary: PlanNode;
  /** Date.now() at the fault. */
  fault: number;
  /** Extra timings (absolute Date.now() values), reported from the fault. */
  marks: Record<string, number>;
  notes: string[];
  log: (line: string) => void;
}

export interface Scenario {
  name: ScenarioName;
  summary: string;
  /** What the drill proves (docs and `--help`). */
  proves: string;
  failoverExpected: boolean;
  /** Needs network namespaces (a partition cannot be made on plain loopback ports). */
  needsNetns?: boolean;
  /** Observation window after the fault when no failover is expected. */
  observeMs?: number;
  /**
   * Writes must keep flowing through the VIP and the writer route: no stretch without an
   * acknowledged write longer than the lease (a primary that fenced would leave one of the rest of
   * the window), and no fence or lease_lost event of the primary.
   */
  writesKeepFlowing?: boolean;
  /** Events the primary must have recorded by the drill's end (read until 30 s after the undo). */
  expectEvents?: readonly EventRecord['event'][];
  /** Injects the fault at ctx.fault (it may take a while: switchover runs until it answers). */
  inject(ctx: DrillContext): Promise<void>;
  /** Runs once the failover is seen, still under the writers (rejoin). */
  afterFailover?(ctx: DrillContext): Promise<void>;
  /** Undoes a fault that heals without failover (network restored, agent restarted). */
  undo?(ctx: DrillContext): Promise<void>;
}

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

/** Polls the VIP target every 100 ms and records when it first left `from`. */
class VipWatch {
  movedAt: number | null = null;
  movedTo: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly from: string | null,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), 50);
  }

  check(): void {
    const target = this.sandbox.vip?.target?.instanceId ?? null;
    if (this.movedAt === null && target !== null && target !== this.from) {
      this.movedAt = Date.now();
      this.movedTo = target;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Events that show a part of the system noticed the fault (the earliest is `detected`). */
const DETECTION_EVENTS = new Set(['repmgrd_upstream_disconnect', 'repmgrd_local_disconnect', 'lease_lost', 'failover_started', 'switchover_started']);

/** The controller's promotion event (the agent records its own `standby_promote` too). */
const CONTROLLER_PROMOTION = /promoted to primary of term \d+/;

export interface RunDrillOptions {
  /** Give up waiting for the failover after this long. @default 90000 */
  timeoutMs?: number;
  /** Heal the sandbox before the drill (a drill needs a healthy 3-node cluster). @default true */
  healBefore?: boolean;
  log?: (line: string) => void;
}

/** Runs one scenario on a running sandbox and returns its figures. */
export async function runDrill(sandbox: Sandbox, scenario: Scenario, options: RunDrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  if (scenario.needsNetns && sandbox.network.mode !== 'netns') {
    throw new PgvigilError('BAD_ARGUMENT', `drill ${scenario.name} needs network namespaces (run the sandbox as root); this sandbox runs on loopback ports`);
  }
  if (!sandbox.vip) throw new PgvigilError('BAD_ARGUMENT', 'the sandbox has no VIP');
  if (options.healBefore !== false) {
    for (const line of await heal(sandbox, log)) log(`heal: ${line}`);
  }
  const { store, close } = storeFor(sandbox);
  const run = `${scenario.name}-${Date.now().toString(36)}`;
  const vip: PgTarget = { host: '127.0.0.1', port: sandbox.vip.port };
  try {
    const before = await snapshotOf(store, sandbox);
    const old = nodeById(sandbox, before.cluster.primary_node_id);
    await ensureDrillTable(vip);
    const writer = new DrillWriter({ name: `vip-${run}`, target: vip });
    const direct = new DrillWriter({ name: `direct-${run}`, target: socketTarget(old) });
    const routeWriter = sandbox.routes ? new DrillWriter({ name: `route-${run}`, target: { host: sandbox.routes.writer.host, port: sandbox.routes.writer.port } }) : null;
    const probe = new WritabilityProbe({ nodes: pgNodes(sandbox).map((n) => ({ name: n.node_name, target: socketTarget(n) })) });
    writer.start();
    direct.start();
    routeWriter?.start();
    probe.start();
    const warmup = Date.now() + 10_000;
    while ((writer.acked().length < 10 || direct.acked().length < 10 || (routeWriter && routeWriter.acked().length < 10)) && Date.now() < warmup) await sleep(50);
    if (writer.acked().length === 0) throw new PgvigilError('SYS_FAILURE', 'drill: no write through the VIP was acknowledged before the fault');
    if (routeWriter && routeWriter.acked().length === 0) throw new PgvigilError('SYS_FAILURE', 'drill: no write through the writer route was acknowledged before the fault');

    const watch = new VipWatch(sandbox, old.instanceId);
    watch.start();
    const ctx: DrillContext = { sandbox, store, oldPrimary: old, fault: Date.now(), marks: {}, notes: [], log };
    log(`${scenario.name}: fault on ${old.node_name} (term ${before.cluster.term})`);
    await scenario.inject(ctx);

    const timeoutMs = options.timeoutMs ?? 90_000;
    if (scenario.failoverExpected) {
      const deadline = ctx.fault + timeoutMs;
      for (;;) {
        watch.check();
        const s = await snapshotOf(store, sandbox).catch(() => undefined);
        const promoted = s !== undefined && s.cluster.term > before.cluster.term && s.cluster.primary_node_id !== old.node_id;
        if (promoted && watch.movedAt !== null && firstAckAfter(writer.attempts, watch.movedAt) !== null && !s.cluster.operation) break;
        if (Date.now() > deadline) {
          ctx.notes.push(`no completed failover within ${timeoutMs} ms`);
          break;
        }
        await sleep(100);
      }
      if (scenario.afterFailover) await scenario.afterFailover(ctx);
    } else {
      const until = ctx.fault + (scenario.observeMs ?? 12_000);
      while (Date.now() < until) await sleep(100);
    }
    await sleep(1000);
    await Promise.all([writer.stop(), direct.stop(), routeWriter?.stop(), probe.stop()]);
    watch.stop();
    const end = Date.now();
    if (scenario.undo) await scenario.undo(ctx);
    // Events recorded while DynamoDB was away reach it once it is back (the agent queues them).
    const expected = scenario.expectEvents ?? [];
    for (const until = Date.now() + 30_000; expected.length > 0 && Date.now() < until; await sleep(500)) {
      const seen = new Set((await store.listEvents(sandbox.state.clusterId, { sinceMs: ctx.fault - 200 }).catch(() => [])).filter((e) => e.node_id === old.node_id).map((e) => e.event));
      if (expected.every((e) => seen.has(e))) break;
    }
    // One more evaluation, so the alarms reflect every metric the drill made the controller emit.
    await sandbox.alarms?.evaluate().catch(() => undefined);
    const notifications = (sandbox.notifications?.received(ctx.fault) ?? []).flatMap((n) =>
      n.alarm ? [{ at_ms: n.receivedAt - ctx.fault, alarm: n.alarm.name, from: n.alarm.from, to: n.alarm.to, subject: n.subject }] : [],
    );

    const after = await snapshotOf(store, sandbox);
    const fresh = nodeById(sandbox, after.cluster.primary_node_id);
    const events = (await store.listEvents(sandbox.state.clusterId, { sinceMs: ctx.fault - 200 })).filter((e) => e.timestamp >= ctx.fault);
    const at = (names: string | string[], filter: (e: EventRecord) => boolean = () => true): number | null => {
      const set = new Set(Array.isArray(names) ? names : [names]);
      const hits = events.filter((e) => set.has(e.event) && filter(e)).map((e) => e.timestamp - ctx.fault);
      return hits.length ? Math.min(...hits) : null;
    };
    const lost = async (name: string, acked: number[]): Promise<number | null> => {
      try {
        return (await ackedWritesLost(socketTarget(fresh), name, acked)).length;
      } catch (error) {
        ctx.notes.push(`cannot count the lost writes of ${name} on ${fresh.node_name}: ${(error as Error).message}`);
        return null;
      }
    };
    const lostVip = await lost(`vip-${run}`, writer.acked());
    const lostDirect = await lost(`direct-${run}`, direct.acked());
    const lostRoute = routeWriter ? await lost(`route-${run}`, routeWriter.acked()) : null;
    const failoverHappened = after.cluster.term > before.cluster.term && fresh.node_id !== old.node_id;
    const oldState = await nodeState(sandbox, old);
    const first = firstAckAfter(writer.attempts, watch.movedAt ?? ctx.fault);
    const vipTarget = sandbox.vip?.target?.instanceId ?? null;
    const result: DrillResult = {
      scenario: scenario.name,
      ok: true,
      problems: [],
      mode: sandbox.network.mode,
      old_primary: old.node_name,
      new_primary: fresh.node_name,
      failover_expected: scenario.failoverExpected,
      failover_happened: failoverHappened,
      term_before: before.cluster.term,
      term_after: after.cluster.term,
      timings_ms: {
        detected: at([...DETECTION_EVENTS]),
        saga_claimed: at(['failover_started', 'switchover_started']),
        fenced: at(['fence_applied', 'demote'], (e) => e.node_id === old.node_id),
        promoted: at(['repmgrd_failover_promote', 'standby_promote'], (e) => e.successful && CONTROLLER_PROMOTION.test(e.details)),
        vip_moved: watch.movedAt === null ? null : watch.movedAt - ctx.fault,
        first_write_via_vip: first === null ? null : first - ctx.fault,
        ...Object.fromEntries(Object.entries(ctx.marks).map(([k, v]) => [k, v - ctx.fault])),
      },
      write_outage_ms: writeOutageMs(writer.attempts, ctx.fault, end),
      acked_writes: writer.acked().length,
      acked_writes_lost: lostVip,
      direct_acked_writes: direct.acked().length,
      direct_acked_writes_lost: lostDirect,
      route_acked_writes: routeWriter ? routeWriter.acked().length : null,
      route_acked_writes_lost: lostRoute,
      route_write_outage_ms: routeWriter ? writeOutageMs(routeWriter.attempts, ctx.fault, end) : null,
      max_writable_primaries: probe.maxWritable().count,
      old_primary_state: oldState,
      vip_target: vipTarget === null ? null : (sandbox.plan.nodes.find((n) => n.instanceId === vipTarget)?.node_name ?? vipTarget),
      promotions: events.filter((e) => CONTROLLER_PROMOTION.test(e.details) && (e.event === 'repmgrd_failover_promote' || e.event === 'standby_promote') && e.successful).length,
      events: events.map((e) => ({ at_ms: e.timestamp - ctx.fault, node_id: e.node_id, event: e.event, successful: e.successful, details: e.details.slice(0, 400) })),
      notifications,
      notes: ctx.notes,
    };
    result.problems = judge(result, { ...scenario, leaseMs: Number(sandbox.plan.overrides.lease_secs ?? SANDBOX_DEFAULTS.lease_secs) * 1000, oldPrimaryId: old.node_id });
    result.ok = result.problems.length === 0;
    return result;
  } finally {
    close();
  }
}

/** The drill's verdict: what the e2e asserts, as sentences. */
export function judge(
  r: DrillResult,
  scenario: Pick<Scenario, 'failoverExpected' | 'name' | 'writesKeepFlowing' | 'expectEvents'> & { leaseMs?: number; oldPrimaryId?: number },
): string[] {
  const problems: string[] = [];
  if (r.failover_happened !== scenario.failoverExpected) problems.push(scenario.failoverExpected ? 'no failover happened' : `a failover happened (term ${r.term_before} → ${r.term_after})`);
  if (r.vip_target !== r.new_primary) problems.push(`the VIP points at ${r.vip_target ?? 'nothing'}, not at the primary ${r.new_primary}`);
  if (r.acked_writes_lost === null || r.direct_acked_writes_lost === null) problems.push('the acknowledged writes could not be checked on the final primary');
  if ((r.acked_writes_lost ?? 0) > 0) problems.push(`${r.acked_writes_lost} acknowledged writes through the VIP lost`);
  if ((r.direct_acked_writes_lost ?? 0) > 0) problems.push(`${r.direct_acked_writes_lost} acknowledged direct writes lost`);
  if (r.route_acked_writes !== null && r.route_acked_writes_lost === null) problems.push('the writes acknowledged through the writer route could not be checked on the final primary');
  if ((r.route_acked_writes_lost ?? 0) > 0) problems.push(`${r.route_acked_writes_lost} acknowledged writes through the writer route lost`);
  const mine = (e: DrillResult['events'][number]): boolean => scenario.oldPrimaryId === undefined || e.node_id === scenario.oldPrimaryId;
  if (scenario.writesKeepFlowing) {
    const bound = scenario.leaseMs ?? 5000;
    if (r.write_outage_ms > bound) problems.push(`writes through the VIP stopped for ${r.write_outage_ms} ms (more than the lease, ${bound} ms)`);
    if (r.route_write_outage_ms !== null && r.route_write_outage_ms > bound) problems.push(`writes through the writer route stopped for ${r.route_write_outage_ms} ms (more than the lease, ${bound} ms)`);
    const fences = r.events.filter((e) => mine(e) && (e.event === 'fence_applied' || e.event === 'lease_lost'));
    if (fences.length > 0) problems.push(`the primary recorded ${fences.map((e) => e.event).join(', ')}`);
  }
  for (const want of scenario.expectEvents ?? []) {
    if (!r.events.some((e) => mine(e) && e.event === want)) problems.push(`the primary recorded no ${want} event`);
  }
  if (r.max_writable_primaries > 1) problems.push(`${r.max_writable_primaries} nodes accepted writes at the same moment`);
  if (scenario.failoverExpected) {
    const want: NodeState[] = scenario.name === 'rejoin' || scenario.name === 'switchover' ? ['standby_streaming'] : ['fenced', 'stopped', 'standby_streaming'];
    if (!want.includes(r.old_primary_state)) problems.push(`the old primary ${r.old_primary} is ${r.old_primary_state}, expected ${want.join(' or ')}`);
    if (r.promotions > 1) problems.push(`${r.promotions} promotions recorded for one fault`);
  } else if (r.old_primary_state !== 'primary') {
    problems.push(`the primary ${r.old_primary} is ${r.old_primary_state} after a drill that needs no failover`);
  }
  return problems;
}

/** The controller's last log lines (for a failed drill's diagnostics). */
export function controllerTail(sandbox: Sandbox, lines = 8): string {
  try {
    return readFileSync(join(sandbox.supervisor.logDir, 'root.controller.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
