/**
 * `cluster restart --rolling [--pending] [--dry-run]` (docs/operations.md, "Rolling restart"):
 * carries out core/restart-plan.ts — each standby restarted through SSM Run Command (the
 * NodeService document) and waited on until its heartbeat shows it streaming again, then the
 * switchover of `standby switchover`, then the old primary waited on until it streams from the new
 * one. Stops at the first failure, records an event for each step, and exits with repmgr's codes.
 */
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import type { EventName } from '../../core/events.js';
import type { ClusterSnapshot, Heartbeat } from '../../core/model.js';
import { latestHeartbeats, nodeLabel, observeCluster } from '../../core/node-status.js';
import type { HostCommands } from '../../core/ports.js';
import { describePlan, planRollingRestart, type RestartTarget } from '../../core/restart-plan.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { aws, clusterOption, findNode, loadCluster, openTarget, type CliTarget } from '../context.js';
import type { CliDeps } from '../deps.js';
import { runSwitchover } from './standby-switchover.js';

const RESTART_COMMAND_TIMEOUT_MS = 660_000;

export const clusterRestartCommand = defineCommand<CliDeps>({
  words: ['cluster', 'restart'],
  summary: 'restart every PostgreSQL server without downtime: standbys one at a time, a switchover, then the old primary',
  usage: 'cluster restart --rolling [--pending] [--candidate NODE] [--checkpoint] [--dry-run] [--wait-timeout SECS] [--cluster ID]',
  examples: ['pgvigil cluster restart --rolling --dry-run', 'pgvigil cluster restart --rolling --pending', 'pgvigil cluster restart --rolling --candidate node3'],
  options: {
    rolling: { type: 'boolean', description: 'one server at a time, the primary last after a switchover (required)' },
    pending: { type: 'boolean', description: 'only the nodes whose settings wait for a restart (pg_settings.pending_restart)' },
    candidate: { type: 'string', description: 'the standby the switchover promotes: node id or name (default: the best streaming standby)' },
    checkpoint: { type: 'boolean', description: 'CHECKPOINT on each standby before its restart' },
    'dry-run': { type: 'boolean', description: 'print the plan and run the switchover checks; change nothing' },
    'wait-timeout': { type: 'integer', description: 'wait at most SECS for each node to stream again, and for the switchover (default 300)' },
    ...clusterOption,
  },
  async run(ctx) {
    const pending = opt.flag(ctx, 'pending');
    const dryRun = opt.flag(ctx, 'dry-run');
    const waitSecs = opt.integer(ctx, 'wait-timeout') ?? 300;
    if (waitSecs < 1) throw new PgvigilError('BAD_ARGUMENT', `option --wait-timeout expects seconds (1 or more), got ${waitSecs}`);
    if (!opt.flag(ctx, 'rolling')) {
      throw new PgvigilError('BAD_ARGUMENT', 'cluster restart restarts one server at a time and needs --rolling', {
        detail: 'restarting every server at once would take the primary down with no standby to take over; nothing was restarted',
        hint: `pgvigil cluster restart --rolling${pending ? ' --pending' : ''}${dryRun ? ' --dry-run' : ''}`,
      });
    }
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const candidateArg = opt.string(ctx, 'candidate');
    const candidateNodeId =
      candidateArg === undefined ? undefined : (/^\d+$/.test(candidateArg) ? findNode(snapshot, { nodeId: Number(candidateArg) }) : findNode(snapshot, { nodeName: candidateArg })).node_id;
    const plan = planRollingRestart(snapshot, target.now(), { pending, candidateNodeId });
    if (plan.steps.length === 0) {
      ctx.out.notice(`no node of cluster "${target.clusterId}" has settings waiting for a restart: nothing to do`);
      return ExitCode.SUCCESS;
    }
    const lines = describePlan(plan);
    ctx.out.notice(`${dryRun ? 'checking' : 'executing'} rolling restart of cluster "${target.clusterId}" (term ${plan.term}):`);
    for (const line of lines) ctx.out.info(line);
    for (const s of plan.skipped) ctx.out.info(`left out: node ID ${s.node_id} (${s.reason})`);
    const switchover = plan.steps.find((s) => s.kind === 'switchover');
    const run = new RestartRun(ctx, target, waitSecs);
    if (dryRun) {
      if (switchover) {
        const code = await runSwitchover(ctx, target, findNode(snapshot, { nodeId: switchover.candidate.node_id }), { siblingsFollow: true, dryRun: true, waitSecs, json: false });
        if (code !== ExitCode.SUCCESS) return code;
      }
      ctx.out.info('prerequisites for executing CLUSTER RESTART are met');
      return ExitCode.SUCCESS;
    }

    const hosts = await ctx.deps.hostCommands(target, target.env);
    await run.record('cluster_restart_started', true, plan.primary_node_id, `rolling restart: ${lines.join('; ')}`);
    let step = '';
    try {
      for (const s of plan.steps) {
        if (s.kind === 'restart') {
          step = `restart of ${label(s.node)}`;
          await run.restart(hosts, s.node, opt.flag(ctx, 'checkpoint'), s.role === 'witness' ? 'serving' : 'streaming');
          await run.record('cluster_restart_node', true, s.node.node_id, `the ${s.role} ${label(s.node)} was restarted and ${s.role === 'witness' ? 'accepts connections' : 'streams'} again`);
        } else if (s.kind === 'switchover') {
          step = `switchover from ${label(s.old_primary)} to ${label(s.candidate)}`;
          const { snapshot: now } = await loadCluster(target);
          const code = await runSwitchover(ctx, target, findNode(now, { nodeId: s.candidate.node_id }), { siblingsFollow: true, dryRun: false, waitSecs, json: false });
          if (code !== ExitCode.SUCCESS) {
            return await run.fail(step, `the switchover ended with exit code ${code}`, code);
          }
        } else {
          step = `the old primary ${label(s.node)}`;
          // The switchover's demote stopped it and its rejoin started it: it is restarted already.
          const hb = await run.waitFor(s.node, 'streaming', null);
          if ((hb.server?.pending_restart ?? []).length > 0) {
            ctx.out.notice(`${label(s.node)} still has settings waiting for a restart: restarting it`);
            await run.restart(hosts, s.node, false, 'streaming');
          }
          await run.record('cluster_restart_node', true, s.node.node_id, `the old primary ${label(s.node)} streams from the new primary`);
        }
      }
    } catch (error) {
      const e = error instanceof PgvigilError ? error : new PgvigilError('INTERNAL', (error as Error).message, { cause: error });
      await run.record('cluster_restart_failed', false, plan.primary_node_id, `rolling restart stopped at the ${step}: ${e.message}`);
      ctx.out.error(`rolling restart stopped at the ${step}; the steps after it were not run`);
      throw e;
    }
    const primary = await run.servingPrimary();
    await run.record('cluster_restart_completed', true, primary.node_id, `rolling restart done: ${plan.steps.length} steps; ${label(primary)} is the primary`);
    ctx.out.notice(`CLUSTER RESTART has completed successfully: ${label(primary)} is the primary`);
    return ExitCode.SUCCESS;
  },
});

function label(n: { node_id: number; node_name: string }): string {
  return nodeLabel(n);
}

/** The steps of one rolling restart: restarts through SSM, waits on heartbeats, events. */
class RestartRun {
  constructor(
    private readonly ctx: CommandContext<CliDeps>,
    private readonly target: CliTarget,
    private readonly waitSecs: number,
  ) {}

  async record(event: EventName, successful: boolean, nodeId: number, details: string): Promise<void> {
    const t = this.target;
    const term = (await aws(t, () => t.store.load(t.clusterId)).catch(() => undefined))?.snapshot.cluster.term ?? 0;
    await aws(t, () => t.store.appendEvent({ cluster_id: t.clusterId, node_id: nodeId, event, successful, timestamp: t.now(), details: details.slice(0, 8000), term })).catch(
      (error: unknown) => this.ctx.out.warning(`unable to record event "${event}": ${(error as Error).message}`),
    );
  }

  async fail(step: string, why: string, code: number): Promise<number> {
    await this.record('cluster_restart_failed', false, 0, `rolling restart stopped at the ${step}: ${why}`);
    this.ctx.out.error(`rolling restart stopped at the ${step}: ${why}; the steps after it were not run`);
    return code;
  }

  private async snapshot(): Promise<ClusterSnapshot> {
    return (await loadCluster(this.target)).snapshot;
  }

  /** Restarts a node's server through SSM, then waits until its heartbeat shows it back. */
  async restart(hosts: HostCommands, node: RestartTarget, checkpoint: boolean, until: 'streaming' | 'serving'): Promise<void> {
    const { requireSuccess, runOnNode } = await import('../host-commands.js');
    const before = await this.snapshot();
    const record = findNode(before, { nodeId: node.node_id });
    this.ctx.out.notice(`restarting ${label(node)}`);
    const result = await runOnNode(
      hosts,
      this.ctx.out,
      record,
      {
        action: 'node-service',
        clusterId: this.target.clusterId,
        nodeId: node.node_id,
        term: before.cluster.term,
        serviceAction: 'restart',
        checkpoint,
        ...(record.config_file ? { configFile: record.config_file } : {}),
      },
      RESTART_COMMAND_TIMEOUT_MS,
    );
    requireSuccess(result, record, '"node service --action restart"');
    // Only a heartbeat written after the restart counts.
    const seq = latestHeartbeats(await this.snapshot()).get(node.node_id)?.seq ?? -1;
    const hb = await this.waitFor(node, until, seq);
    const left = hb.server?.pending_restart ?? [];
    if (left.length > 0) this.ctx.out.warning(`${label(node)} still reports settings waiting for a restart: ${left.join(', ')}`);
  }

  /**
   * Waits until the node's heartbeat (newer than `afterSeq`, when given) shows it streaming as a
   * standby, or serving (a witness); LOCAL_COMMAND when it does not within the wait timeout.
   */
  async waitFor(node: RestartTarget, until: 'streaming' | 'serving', afterSeq: number | null): Promise<Heartbeat> {
    const deadline = Date.now() + this.waitSecs * 1000;
    let last = 'no heartbeat yet';
    for (;;) {
      const snapshot = await this.snapshot();
      const hb = latestHeartbeats(snapshot).get(node.node_id);
      const s = hb?.server;
      if (hb && (afterSeq === null || hb.seq > afterSeq)) {
        const ok = until === 'serving' ? s?.accepting_connections === true : s?.in_recovery === true && s.wal_receiver_status === 'streaming';
        if (ok) {
          this.ctx.out.info(`${label(node)} ${until === 'serving' ? 'accepts connections' : `streams from node ID ${s?.wal_receiver_upstream_node_id ?? '?'}`} again`);
          return hb;
        }
        last = !s ? 'no server reported' : !s.accepting_connections ? 'not accepting connections' : `in_recovery=${String(s.in_recovery)}, WAL receiver ${s.wal_receiver_status ?? 'not running'}`;
      }
      if (Date.now() >= deadline) {
        throw new PgvigilError('LOCAL_COMMAND', `${label(node)} did not ${until === 'serving' ? 'accept connections' : 'stream'} again within ${this.waitSecs} s (last heartbeat: ${last})`, {
          hint: 'check "pgvigil node status --node-id ' + String(node.node_id) + '" and the server log on the node',
        });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** The cluster's primary, which must be up and out of recovery at the end. */
  async servingPrimary(): Promise<{ node_id: number; node_name: string }> {
    const deadline = Date.now() + this.waitSecs * 1000;
    for (;;) {
      const snapshot = await this.snapshot();
      const id = snapshot.cluster.primary_node_id;
      const o = observeCluster(snapshot, this.target.now()).find((x) => x.node.node_id === id);
      if (o && o.state === 'up' && o.recovery === 'primary') return o.node;
      if (Date.now() >= deadline) {
        throw new PgvigilError('LOCAL_COMMAND', `every node was restarted, but the cluster's primary (node ID ${id ?? 'none'}) does not serve: ${o?.reason ?? 'no heartbeat'}`, {
          hint: 'check "pgvigil cluster show"',
        });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
