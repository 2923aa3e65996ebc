/**
 * `service status`, `service pause`, `service unpause` (repmgr's repmgrd service commands): in
 * pgvigil, pausing is one flag in the cluster record that the controller honours — it keeps
 * evaluating and reporting, but takes no action (docs/cli.md).
 */
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import type { ClusterRecord } from '../../core/model.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { aws, clusterOption, jsonOption, loadCluster, openTarget, type CliTarget } from '../context.js';
import { renderServiceStatusCsv, renderServiceStatusTable, serviceStatusModel } from '../render/service-status.js';

export const serviceStatusCommand = defineCommand({
  words: ['service', 'status'],
  summary: "show each node's agent: running, paused, last heartbeat, upstream last seen",
  usage: 'service status [--csv] [--json] [--cluster ID]',
  examples: ['pgvigil service status', 'pgvigil service status --csv'],
  options: {
    csv: { type: 'boolean', description: 'node_id,node_name,role,agent_running,paused,heartbeat_age_secs,upstream_last_seen_secs' },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const model = serviceStatusModel(snapshot, target.now());
    const code = model.issues.length > 0 ? ExitCode.ERR_NODE_STATUS : ExitCode.SUCCESS;
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(JSON.stringify(model, null, 2));
      return code;
    }
    if (opt.flag(ctx, 'csv')) {
      for (const line of renderServiceStatusCsv(model)) ctx.out.print(line);
      return code;
    }
    for (const line of renderServiceStatusTable(model)) ctx.out.print(line);
    if (model.paused) ctx.out.notice(`cluster "${model.cluster_id}" is paused: the controller reports but does not act`);
    if (model.operation) ctx.out.notice(`a ${model.operation.kind} is in progress (step "${model.operation.step}")`);
    for (const issue of model.issues) ctx.out.warning(issue);
    return code;
  },
});

/** Conditional write of the paused flag, retried on a lost race; ERR_REPMGRD_PAUSE when it cannot be done. */
async function setPaused(ctx: CommandContext, paused: boolean): Promise<number> {
  const verb = paused ? 'pause' : 'unpause';
  const target = await openTarget(ctx);
  const dryRun = opt.flag(ctx, 'dry-run');
  let cluster: ClusterRecord;
  for (let attempt = 1; ; attempt++) {
    cluster = (await loadCluster(target)).snapshot.cluster;
    // A pause an operation set (a switchover's) is lifted when the operation ends: pausing makes it
    // the operator's, which nothing but "service unpause" lifts.
    const byOperation = cluster.paused && Boolean(cluster.paused_by);
    if (cluster.paused === paused && !(paused && byOperation)) {
      ctx.out.notice(`cluster "${target.clusterId}" is already ${paused ? 'paused' : 'unpaused'}`);
      return ExitCode.SUCCESS;
    }
    if (attempt === 1 && cluster.operation) {
      ctx.out.warning(
        `a ${cluster.operation.kind} is in progress (step "${cluster.operation.step}"); it lifts only a pause it set itself, never this one`,
      );
    }
    if (dryRun) {
      ctx.out.info(`would ${verb} cluster "${target.clusterId}" (term ${cluster.term})`);
      ctx.out.info('prerequisites for executing "service ' + verb + '" are met');
      return ExitCode.SUCCESS;
    }
    const result = await write(target, cluster, paused).catch((error: unknown) => {
      throw new PgvigilError('PAUSE_FAIL', `unable to ${verb} cluster "${target.clusterId}"`, {
        cause: error,
        detail: error instanceof Error ? error.message : String(error),
      });
    });
    if (result.ok) break;
    if (attempt >= 5) {
      throw new PgvigilError('PAUSE_FAIL', `unable to ${verb} cluster "${target.clusterId}": the cluster record kept changing`, {
        hint: 'the controller may be in the middle of an operation; try again',
      });
    }
  }
  await aws(target, () =>
    target.store.appendEvent({
      cluster_id: target.clusterId,
      node_id: cluster.primary_node_id ?? 0,
      event: paused ? 'cluster_paused' : 'cluster_unpaused',
      successful: true,
      timestamp: target.now(),
      details: paused
        ? 'automatic failover paused with "pgvigil service pause": the controller reports but does not act'
        : 'automatic failover resumed with "pgvigil service unpause"',
      term: cluster.term,
    }),
  ).catch((error: unknown) => ctx.out.warning(`the ${verb} is done, but its event could not be recorded: ${(error as Error).message}`));
  ctx.out.notice(
    paused
      ? `cluster "${target.clusterId}" paused: the controller reports but does not act until "pgvigil service unpause"`
      : `cluster "${target.clusterId}" unpaused: automatic failover is active`,
  );
  return ExitCode.SUCCESS;
}

async function write(target: CliTarget, cluster: ClusterRecord, paused: boolean): Promise<{ ok: boolean }> {
  return aws(target, () => target.store.updateCluster(target.clusterId, cluster.version, { paused, paused_by: null }, target.now()));
}

const pauseOptions = {
  'dry-run': { type: 'boolean' as const, description: 'check and say what would be done; change nothing' },
  ...clusterOption,
};

export const servicePauseCommand = defineCommand({
  words: ['service', 'pause'],
  summary: 'pause automatic failover: the controller keeps reporting but takes no action',
  usage: 'service pause [--dry-run] [--cluster ID]',
  examples: ['pgvigil service pause', 'pgvigil service pause --dry-run --cluster orders'],
  options: pauseOptions,
  run: (ctx) => setPaused(ctx, true),
});

export const serviceUnpauseCommand = defineCommand({
  words: ['service', 'unpause'],
  summary: 'resume automatic failover after "service pause"',
  usage: 'service unpause [--dry-run] [--cluster ID]',
  examples: ['pgvigil service unpause'],
  options: pauseOptions,
  run: (ctx) => setPaused(ctx, false),
});
