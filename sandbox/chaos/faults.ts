/**
 * The chaos campaign's fault injectors: each puts one planned fault on the running sandbox and
 * returns how to heal it, where it landed, and which fences it justifies (docs/drills.md, "Which
 * fences a fault justifies"). The drills' own pieces are reused where they fit.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaSwitchoverInvoker } from '../../cli/switchover.js';
import { PgvigilError } from '../../core/errors.js';
import type { PlanNode } from '../cluster-plan.js';
import { CONTROLLER_PROCESS } from '../controller.js';
import { postmasterPid } from '../drills/crash-primary.js';
import { flap } from '../drills/flapping.js';
import { pgNodes, rejoinNode, sleep } from '../drills/heal.js';
import type { Sandbox } from '../index.js';
import { CONTROL_PLANE_ROUTE } from '../index.js';
import { ROOT_HOST } from '../netns.js';
import { alive, processTree } from '../supervisor.js';
import type { LinkFaults } from './link-faults.js';
import type { Random } from './random.js';
import type { CampaignRecorder } from './recorder.js';
import { describeFault, type AwsScope, type PlannedFault, type Role } from './schedule.js';

export interface InjectContext {
  sandbox: Sandbox;
  recorder: CampaignRecorder;
  links: LinkFaults;
  /** Draws for this fault alone (which standby …), from the campaign's seed and the fault's index. */
  rng: Random;
  leaseMs: number;
  log: (line: string) => void;
}

/** A fault in place. */
export interface ActiveFault {
  description: string;
  targets: string[];
  justifies: { nodes: string[]; why: string } | null;
  blocksController: boolean;
  notes: string[];
  /** The fault's own action (a switchover's call): the hold lasts until it has ended too. */
  busy?: Promise<void>;
  heal(): Promise<void>;
}

/** The PostgreSQL node that is the primary by the cluster record (else the VIP's target, else the plan's). */
function currentPrimary(ctx: InjectContext): PlanNode {
  const name = ctx.recorder.lastCluster?.primary ?? ctx.recorder.vipNode() ?? ctx.sandbox.plan.primary.node_name;
  return ctx.sandbox.node(name);
}

function resolveRole(ctx: InjectContext, role: Role): PlanNode {
  const primary = currentPrimary(ctx);
  if (role === 'primary') return primary;
  if (role === 'witness') {
    const witness = ctx.sandbox.plan.nodes.find((n) => n.role === 'witness');
    if (!witness) throw new PgvigilError('SYS_FAILURE', 'the sandbox has no witness');
    return witness;
  }
  return ctx.rng.pick(pgNodes(ctx.sandbox).filter((n) => n.node_name !== primary.node_name));
}

/** The AWS proxy's routes of a scope, and the hosts whose fences a full cut of them would justify. */
function routesOf(ctx: InjectContext, scope: AwsScope): { routes: string[]; hosts: string[]; label: string } {
  const hosts = ctx.sandbox.plan.nodes.map((n) => n.node_name);
  if (scope === 'all') return { routes: [...hosts, CONTROL_PLANE_ROUTE], hosts, label: 'every host and the controller' };
  if (scope === 'controller') return { routes: [CONTROL_PLANE_ROUTE], hosts: [], label: 'the controller' };
  const node = resolveRole(ctx, scope).node_name;
  return { routes: [node], hosts: [node], label: node };
}

function proxy(ctx: InjectContext) {
  const control = ctx.sandbox.awsProxy;
  if (!control) throw new PgvigilError('SYS_FAILURE', 'this sandbox has no AWS proxy (it was brought up by an older pgvigil)');
  return control;
}

/** Freezes a whole PostgreSQL server (the postmaster and every backend) and returns how to thaw it. */
function freezePostgres(node: PlanNode): () => void {
  const pids = processTree(postmasterPid(node));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      // gone
    }
  }
  return () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  };
}

/** Starts a node's PostgreSQL again if it is not running (what systemd does after a crash). */
async function restartPostgres(ctx: InjectContext, node: PlanNode, notes: string[]): Promise<void> {
  let pid: number | null = null;
  try {
    pid = postmasterPid(node);
  } catch {
    // no postmaster.pid: not running
  }
  if (pid !== null && alive(pid)) return;
  try {
    await ctx.sandbox.startPostgres(node.node_name);
    notes.push(`${node.node_name}: PostgreSQL started again`);
  } catch (error) {
    notes.push(`${node.node_name}: PostgreSQL did not start again: ${(error as Error).message}`);
  }
}

/** Busy loops on every core, ended by pid. */
function starveCpu(): () => void {
  const pids: number[] = [];
  for (let i = 0; i < availableParallelism(); i++) {
    const child = spawn('/bin/sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' });
    child.unref();
    if (child.pid) pids.push(child.pid);
  }
  return () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
}

/** Starts a planned switchover to the highest-priority standby through the switchover function (as the CLI does). */
function startSwitchover(ctx: InjectContext, notes: string[]): { oldPrimary: string; done: Promise<void> } {
  const { sandbox } = ctx;
  const old = currentPrimary(ctx);
  const candidate = pgNodes(sandbox)
    .filter((n) => n.node_id !== old.node_id)
    .sort((a, b) => b.priority - a.priority || a.node_id - b.node_id)[0];
  const endpoint = sandbox.switchoverEndpoint;
  if (!candidate || !endpoint) {
    notes.push('switchover: no candidate or no switchover function');
    return { oldPrimary: old.node_name, done: Promise.resolve() };
  }
  const lambda = new LambdaClient({ ...sandbox.clientConfig, endpoint: endpoint.url, maxAttempts: 1 });
  const invoker = new LambdaSwitchoverInvoker(lambda, endpoint.functionName);
  ctx.log(`switchover ${old.node_name} → ${candidate.node_name} started`);
  const done = invoker
    .invoke({ cluster_id: sandbox.state.clusterId, candidate_node_id: candidate.node_id, siblings_follow: true, dry_run: false })
    .then(
      (r) => void notes.push(`switchover ${old.node_name} → ${candidate.node_name}: ${r.outcome ?? (r.ok ? 'ok' : 'failed')}: ${r.message}`),
      (error: unknown) => void notes.push(`switchover ${old.node_name} → ${candidate.node_name} failed: ${(error as Error).message}`),
    )
    .finally(() => lambda.destroy());
  return { oldPrimary: old.node_name, done };
}

/** A hold long enough that the lease ran out: a fence of the affected node is then justified. */
const outlastsLease = (f: PlannedFault, leaseMs: number): boolean => f.holdMs >= leaseMs - 1000;

/** Injects one planned fault; what it does and sees is added to `notes`. */
export async function inject(ctx: InjectContext, f: PlannedFault, notes: string[] = []): Promise<ActiveFault> {
  const { sandbox } = ctx;
  const p = f.params;
  const active = (targets: string[], justifies: ActiveFault['justifies'], heal: () => Promise<void>, extra: Partial<ActiveFault> = {}): ActiveFault => ({
    description: describeFault(f, targets.length ? targets.join(', ') : undefined),
    targets,
    justifies,
    blocksController: false,
    notes,
    heal,
    ...extra,
  });
  switch (f.type) {
    case 'crash-primary':
    case 'rejoin':
    case 'kill-controller-mid-saga': {
      const node = currentPrimary(ctx);
      const term = ctx.recorder.lastCluster?.term ?? 0;
      const pid = postmasterPid(node);
      process.kill(pid, 'SIGKILL');
      notes.push(`killed the postmaster (pid ${pid}) of ${node.node_name}`);
      let busy: Promise<void> | undefined;
      if (f.type === 'kill-controller-mid-saga') {
        busy = (async () => {
          const deadline = Date.now() + 60_000;
          while (Date.now() < deadline) {
            const c = (await ctx.recorder.store.load(sandbox.state.clusterId).catch(() => undefined))?.snapshot.cluster;
            if (c?.operation?.kind === 'failover' && c.term > term) {
              const killed = sandbox.supervisor.signal(ROOT_HOST, CONTROLLER_PROCESS, 'SIGKILL');
              notes.push(`controller (pid ${killed ?? '?'}) killed at step ${c.operation.step} of the failover of term ${c.term}`);
              return;
            }
            await sleep(50);
          }
          notes.push('no failover was claimed within 60 s: the controller was not killed');
        })();
      }
      return active(
        [node.node_name],
        { nodes: [node.node_name], why: 'its PostgreSQL server crashed' },
        async () => {
          await busy;
          if (f.type === 'rejoin' && ctx.recorder.lastCluster?.primary !== node.node_name) {
            try {
              await rejoinNode(sandbox, node);
              notes.push(`${node.node_name}: node rejoin --force-rewind (the operator)`);
            } catch (error) {
              notes.push(`${node.node_name}: node rejoin failed: ${(error as Error).message}`);
            }
          } else {
            await restartPostgres(ctx, node, notes);
          }
        },
        { blocksController: f.type === 'kill-controller-mid-saga', ...(busy ? { busy } : {}) },
      );
    }
    case 'kill-primary-host': {
      const node = currentPrimary(ctx);
      const killed = await sandbox.supervisor.killHost(node.node_name);
      if (sandbox.network.mode === 'netns') await sandbox.network.cut(node.node_name);
      notes.push(`killed ${killed.length} processes of ${node.node_name}`);
      return active([node.node_name], { nodes: [node.node_name], why: 'its host died' }, async () => {
        if (sandbox.network.isCut(node.node_name)) await sandbox.network.restore(node.node_name);
        await sandbox.reviveHost(node.node_name);
        await restartPostgres(ctx, node, notes);
        await sandbox.startAgent(node.node_name);
      });
    }
    case 'partition-primary':
    case 'partition-witness': {
      const node = resolveRole(ctx, f.type === 'partition-primary' ? 'primary' : 'witness');
      await sandbox.network.cut(node.node_name);
      return active([node.node_name], f.type === 'partition-primary' ? { nodes: [node.node_name], why: 'it was cut off from the network' } : null, async () => {
        if (sandbox.network.isCut(node.node_name)) await sandbox.network.restore(node.node_name);
      });
    }
    case 'stop-agent': {
      const node = currentPrimary(ctx);
      await sandbox.supervisor.stop(node.node_name, 'agent');
      return active([node.node_name], outlastsLease(f, ctx.leaseMs) ? { nodes: [node.node_name], why: 'its agent was dead longer than the lease' } : null, () => sandbox.startAgent(node.node_name));
    }
    case 'switchover': {
      const s = startSwitchover(ctx, notes);
      return active([s.oldPrimary], { nodes: [s.oldPrimary], why: 'a planned switchover moved the primary away from it' }, () => s.done, { busy: s.done });
    }
    case 'flapping': {
      const node = currentPrimary(ctx);
      const busy = flap(sandbox.network, node.node_name);
      return active([node.node_name], null, async () => {
        await busy.catch((error: unknown) => void notes.push(`flapping: ${(error as Error).message}`));
        if (sandbox.network.isCut(node.node_name)) await sandbox.network.restore(node.node_name);
      }, { busy: busy.catch(() => undefined) });
    }
    case 'cpu-starvation': {
      const stop = starveCpu();
      return active([], null, () => Promise.resolve(stop()));
    }
    case 'aws-stall': {
      sandbox.supervisor.signal(ROOT_HOST, 'moto', 'SIGSTOP');
      const all = sandbox.plan.nodes.map((n) => n.node_name);
      return active([], outlastsLease(f, ctx.leaseMs) ? { nodes: all, why: 'the control plane was stalled beyond the lease' } : null, () => Promise.resolve(void sandbox.supervisor.signal(ROOT_HOST, 'moto', 'SIGCONT')), { blocksController: true });
    }
    case 'aws-latency':
    case 'aws-errors':
    case 'aws-blackhole': {
      const scope = routesOf(ctx, p.scope ?? 'all');
      const faults =
        f.type === 'aws-latency'
          ? { latencyMs: p.latencyMs ?? 0, jitterMs: p.jitterMs ?? 0 }
          : f.type === 'aws-errors'
            ? { errorRate: p.errorRate ?? 0, throttleRate: p.throttleRate ?? 0 }
            : { blackhole: true };
      for (const route of scope.routes) await proxy(ctx).set(route, faults);
      const cut = f.type === 'aws-blackhole' && outlastsLease(f, ctx.leaseMs);
      const slow = f.type === 'aws-latency' && (p.latencyMs ?? 0) + (p.jitterMs ?? 0) >= ctx.leaseMs / 2;
      const justifies = (cut || slow) && scope.hosts.length ? { nodes: scope.hosts, why: cut ? 'it was cut off from AWS beyond the lease' : 'AWS answered it slower than half the lease' } : null;
      return active(scope.routes.length === 1 ? scope.routes : [], justifies, async () => {
        for (const route of scope.routes) await proxy(ctx).set(route, {});
      }, { blocksController: f.type === 'aws-blackhole' && scope.routes.includes(CONTROL_PLANE_ROUTE), description: describeFault(f, scope.label) });
    }
    case 'sigstop-postgres': {
      const node = resolveRole(ctx, p.role ?? 'primary');
      const thaw = freezePostgres(node);
      return active([node.node_name], { nodes: [node.node_name], why: 'its PostgreSQL server was frozen' }, () => Promise.resolve(thaw()));
    }
    case 'sigstop-agent': {
      const node = resolveRole(ctx, p.role ?? 'primary');
      const pid = sandbox.supervisor.signal(node.node_name, 'agent', 'SIGSTOP');
      if (pid === null) notes.push(`${node.node_name}: no agent running to stop`);
      return active([node.node_name], outlastsLease(f, ctx.leaseMs) ? { nodes: [node.node_name], why: 'its agent was frozen longer than the lease' } : null, () =>
        Promise.resolve(void (pid !== null && process.kill(pid, 'SIGCONT'))),
      );
    }
    case 'sigstop-controller': {
      const pid = sandbox.supervisor.signal(ROOT_HOST, CONTROLLER_PROCESS, 'SIGSTOP');
      return active([], null, () => Promise.resolve(void (pid !== null && process.kill(pid, 'SIGCONT'))), { blocksController: true });
    }
    case 'packet-loss':
    case 'packet-delay': {
      const node = resolveRole(ctx, p.role ?? 'primary');
      await ctx.links.apply(node.node_name, f.type === 'packet-loss' ? { lossPercent: p.lossPercent ?? 0 } : { delayMs: p.delayMs ?? 0 });
      return active([node.node_name], null, () => ctx.links.clear(node.node_name));
    }
    case 'switchover-during-fault': {
      if (!p.base) throw new PgvigilError('INTERNAL', `fault #${f.index}: switchover-during-fault without its base fault`);
      const base = await inject(ctx, p.base, notes);
      await sleep(p.switchoverAfterMs ?? 0);
      const s = startSwitchover(ctx, notes);
      const nodes = [...new Set([...(base.justifies?.nodes ?? []), s.oldPrimary])];
      return {
        description: `switchover from ${s.oldPrimary} during ${base.description}`,
        targets: [...new Set([...base.targets, s.oldPrimary])],
        justifies: { nodes, why: `${base.justifies ? `${base.justifies.why}; ` : ''}a planned switchover moved the primary away from ${s.oldPrimary}` },
        blocksController: base.blocksController,
        notes,
        busy: s.done,
        heal: async () => {
          await base.heal();
          await s.done;
        },
      };
    }
  }
}
