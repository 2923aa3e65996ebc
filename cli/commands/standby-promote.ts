/**
 * A promotion by hand that is safe: `standby promote [--candidate NODE]` (repmgr's words; without
 * --candidate, the node of the -f configuration file) and `cluster failover --candidate NODE`
 * (Patroni's). Both run the controller's failover saga under a new term — fence the old primary,
 * promote, move the Elastic IP, the others follow — and follow it step by step like `standby
 * switchover` (functions/manual-failover.ts, docs/operations.md).
 */
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { clusterOption, findNode, jsonOption, loadCluster, openTarget, thisNodeId } from '../context.js';

const options = {
  force: { type: 'boolean', description: 'promote even though the primary serves and holds its lease: it is fenced, and WAL the candidate has not received is lost' },
  'dry-run': { type: 'boolean', description: 'run every check and print it; change nothing' },
  'wait-timeout': { type: 'integer', description: 'stop following after SECS seconds (default 900); the saga carries on' },
  ...jsonOption,
  ...clusterOption,
} as const;

async function runPromotion(ctx: CommandContext, candidateArg: string | undefined): Promise<number> {
  const waitSecs = opt.integer(ctx, 'wait-timeout') ?? 900;
  if (waitSecs < 1) throw new PgvigilError('BAD_ARGUMENT', `option --wait-timeout expects seconds (1 or more), got ${waitSecs}`);
  const dryRun = opt.flag(ctx, 'dry-run');
  const force = opt.flag(ctx, 'force');
  const json = opt.flag(ctx, 'json');
  const { followSwitchover, switchoverInvoker } = await import('../switchover.js');
  const target = await openTarget(ctx);
  const self = candidateArg === undefined ? thisNodeId(target) : undefined;
  if (candidateArg === undefined && self === undefined) {
    throw new PgvigilError('BAD_ARGUMENT', 'which standby to promote? give --candidate NODE, or -f with the standby\'s own repmgr.conf');
  }
  const { snapshot } = await loadCluster(target);
  const candidate =
    candidateArg === undefined
      ? findNode(snapshot, { nodeId: self })
      : /^\d+$/.test(candidateArg)
        ? findNode(snapshot, { nodeId: Number(candidateArg) })
        : findNode(snapshot, { nodeName: candidateArg });
  const request = { cluster_id: target.clusterId, candidate_node_id: candidate.node_id, siblings_follow: true, dry_run: dryRun, failover: true, force };
  const invoker = switchoverInvoker(target, target.env);
  const who = `node "${candidate.node_name}" (ID: ${candidate.node_id})`;
  ctx.out.notice(dryRun ? `checking promotion of ${who} in --dry-run mode (${invoker.description})` : `promoting ${who} through the failover saga (${invoker.description})`);
  if (force && !dryRun) ctx.out.warning('--force: a primary that still serves is fenced, and every transaction the candidate has not received is lost');
  const result = await followSwitchover(target, ctx.out, invoker.invoke(request), {
    candidateId: candidate.node_id,
    kind: 'failover',
    sinceMs: target.now() - 1000,
    pollMs: 500,
    timeoutMs: waitSecs * 1000,
    now: target.now,
  });
  const response = result.response;
  if (json) ctx.out.print(JSON.stringify({ outcome: result.outcome, response, primary_node_id: result.primaryNodeId }, null, 2));
  if (response && (dryRun || response.operation_id === undefined)) {
    if (!json) for (const c of response.checks) (c.passed ? ctx.out.info : ctx.out.error)(`${c.name}: ${c.detail}`);
    if (response.ok) {
      ctx.out.info(response.message);
      return ExitCode.SUCCESS;
    }
    ctx.out.error(response.message);
    if (response.checks.some((c) => c.name === 'primary_not_healthy' && !c.passed)) {
      ctx.out.hint('the primary is healthy: use "pgvigil standby switchover" (no data loss); --force fences it and loses what the candidate has not received');
    }
    return ExitCode.ERR_PROMOTION_FAIL;
  }
  switch (result.outcome) {
    case 'completed':
      ctx.out.notice(`STANDBY PROMOTE successful: ${who} is the primary${response?.term === undefined ? '' : ` (term ${response.term})`}; the other standbys follow it as the controller's follow-ups`);
      return ExitCode.SUCCESS;
    case 'timed_out':
      ctx.out.warning(`stopped following after ${waitSecs} s; the failover continues in the controller`);
      ctx.out.hint('follow it with "pgvigil cluster event" and "pgvigil cluster show"');
      return ExitCode.ERR_PROMOTION_FAIL;
    default:
      ctx.out.error(response?.message ?? 'the promotion did not complete');
      ctx.out.hint('see "pgvigil cluster event --event=repmgrd_failover_aborted" for the reason');
      return ExitCode.ERR_PROMOTION_FAIL;
  }
}

export const standbyPromoteCommand = defineCommand({
  words: ['standby', 'promote'],
  summary: 'promote a standby by hand through the failover saga (fence, promote, Elastic IP, follow)',
  usage: 'standby promote [--candidate NODE | -f CONFIG] [--force] [--dry-run] [--json] [--wait-timeout SECS] [--cluster ID]',
  examples: ['pgvigil standby promote -f /etc/pgvigil/repmgr.conf --dry-run', 'pgvigil standby promote --candidate node2', 'pgvigil standby promote --candidate 2 --force'],
  options: { candidate: { type: 'string', description: 'the standby to promote: node id or node name (default: the node of -f)' }, ...options },
  run: (ctx) => runPromotion(ctx, opt.string(ctx, 'candidate')),
});

export const clusterFailoverCommand = defineCommand({
  words: ['cluster', 'failover'],
  summary: 'fail over by hand to a standby (the failover saga under a new term)',
  usage: 'cluster failover --candidate NODE [--force] [--dry-run] [--json] [--wait-timeout SECS] [--cluster ID]',
  examples: ['pgvigil cluster failover --candidate node2 --dry-run', 'pgvigil cluster failover --candidate 2 --cluster orders'],
  options: { candidate: { type: 'string', description: 'the standby to promote: node id or node name' }, ...options },
  run: (ctx) => runPromotion(ctx, opt.requiredString(ctx, 'candidate')),
});
