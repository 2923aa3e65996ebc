/**
 * The drills' common runner (docs/sandbox.md): on a running sandbox, it makes sure the cluster is
 * healthy (a primary, two streaming standbys, the witness, every agent and the VIP on the primary),
 * starts the VIP writer, the direct writer on the primary's own host and the writability probe,
 * injects the scenario's fault, watches the VIP and the cluster record until the expected outcome
 * (or an observation window when no failover is expected), and computes the figures from the
 * writers, the event log and the VIP observations. Between drills, heal.ts repairs the sandbox.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { EventRecord } from '../../core/model.js';
import type { Sandbox } from '../index.js';
import { SANDBOX_DEFAULTS } from '../cluster-plan.js';
import { DrillWriter, WritabilityProbe, ackedWritesLost, ensureDrillTable, firstAckAfter, writeOutageMs, type PgTarget } from '../writers.js';
import { heal, nodeById, nodeState, pgNodes, sleep, snapshotOf, socketTarget, storeFor } from './heal.js';
import type { DrillContext, DrillResult, NodeState, Scenario } from './scenario.js';

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
