/**
 * `standby switchover --candidate NODE [--siblings-follow] [--dry-run] [--json]` (docs/controller.md): runs
 * the controller's switchover and follows the saga step by step until it completes or fails.
 */
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import type { NodeRecord } from '../../core/model.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { clusterOption, findNode, jsonOption, loadCluster, openTarget, type CliTarget } from '../context.js';
import type { CliDeps } from '../deps.js';
import { cancelScheduledSwitchover, scheduleSwitchover } from './switchover-schedule.js';

export const standbySwitchoverCommand = defineCommand<CliDeps>({
  words: ['standby', 'switchover'],
  summary: 'promote a standby and demote the primary in a controlled way (no data loss)',
  usage: 'standby switchover (--candidate NODE [--scheduled ISO-TIME] | --cancel) [--siblings-follow] [--dry-run] [--json] [--wait-timeout SECS] [--cluster ID]',
  examples: [
    'pgvigil standby switchover --candidate node2 --siblings-follow --dry-run',
    'pgvigil standby switchover --candidate 2 --siblings-follow',
    'pgvigil standby switchover --candidate node2 --scheduled 2026-12-08T02:00:00Z',
    'pgvigil standby switchover --cancel',
  ],
  options: {
    candidate: { type: 'string', description: 'the standby to promote: node id or node name' },
    'siblings-follow': { type: 'boolean', description: 'make the other standbys of the old primary follow the new one' },
    'dry-run': { type: 'boolean', description: 'run every check and print it; change nothing' },
    'wait-timeout': { type: 'integer', description: 'stop following after SECS seconds (default 900); the saga carries on' },
    scheduled: { type: 'string', description: 'do not switch over now: the controller starts it at ISO-TIME (listed by "cluster show")' },
    cancel: { type: 'boolean', description: 'cancel the scheduled switchover' },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    if (opt.flag(ctx, 'cancel')) return cancelScheduledSwitchover(ctx);
    const candidateArg = opt.requiredString(ctx, 'candidate');
    const waitSecs = opt.integer(ctx, 'wait-timeout') ?? 900;
    if (waitSecs < 1) throw new PgvigilError('BAD_ARGUMENT', `option --wait-timeout expects seconds (1 or more), got ${waitSecs}`);
    const dryRun = opt.flag(ctx, 'dry-run');
    const json = opt.flag(ctx, 'json');
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const candidate = /^\d+$/.test(candidateArg) ? findNode(snapshot, { nodeId: Number(candidateArg) }) : findNode(snapshot, { nodeName: candidateArg });
    const scheduled = opt.string(ctx, 'scheduled');
    if (scheduled !== undefined) return scheduleSwitchover(ctx, target, snapshot, candidate, scheduled);
    return runSwitchover(ctx, target, candidate, { siblingsFollow: opt.flag(ctx, 'siblings-follow'), dryRun, waitSecs, json });
  },
});

export interface SwitchoverRun {
  siblingsFollow: boolean;
  dryRun: boolean;
  /** Stop following after this many seconds (the saga carries on). */
  waitSecs: number;
  json: boolean;
}

/**
 * Runs the controller's switchover to `candidate` (or its dry run) and follows it step by step;
 * returns repmgr's exit code. Also the switchover step of `cluster restart --rolling`.
 */
export async function runSwitchover(ctx: CommandContext<CliDeps>, target: CliTarget, candidate: NodeRecord, run: SwitchoverRun): Promise<number> {
  const { siblingsFollow, dryRun, waitSecs, json } = run;
  // The AWS clients and (without a deployed switchover function) the controller's saga: this command's alone.
  const { followAndReport } = await import('../switchover.js');
  const request = {
    cluster_id: target.clusterId,
    candidate_node_id: candidate.node_id,
    siblings_follow: siblingsFollow,
    dry_run: dryRun,
  };
  const invoker = await ctx.deps.switchover(target, target.env);
  const who = `node "${candidate.node_name}" (ID: ${candidate.node_id})`;
  ctx.out.notice(dryRun ? `checking switchover to ${who} in --dry-run mode (${invoker.description})` : `executing switchover to ${who} (${invoker.description})`);
  const startedAt = target.now();
  const result = await followAndReport(
    target,
    ctx.out,
    invoker.invoke(request),
    { candidateId: candidate.node_id, sinceMs: startedAt - 1000, pollMs: 500, timeoutMs: waitSecs * 1000, now: target.now },
    { json, dryRun, refusedCode: ExitCode.ERR_SWITCHOVER_FAIL, ...(dryRun ? { passed: 'prerequisites for executing STANDBY SWITCHOVER are met' } : {}) },
  );
  if ('exitCode' in result) return result.exitCode;
  const response = result.response;
  switch (result.outcome) {
    case 'completed': {
      // Done once the new primary serves behind the Elastic IP; the follow-ups are reported, and a
      // pending one is carried on by the controller.
      for (const f of response?.follow_ups ?? []) {
        if (f.state === 'done') ctx.out.info(`follow-up ${f.action} of node ${f.node_id}: done (${f.detail})`);
        else ctx.out.warning(`follow-up ${f.action} of node ${f.node_id}: pending (${f.detail}); the controller carries it on`);
      }
      ctx.out.notice(`STANDBY SWITCHOVER has completed successfully: ${who} is the primary${response?.term === undefined ? '' : ` (term ${response.term})`}`);
      return ExitCode.SUCCESS;
    }
    case 'rolled_back':
      ctx.out.error('switchover failed and was rolled back: the old primary is the primary again');
      ctx.out.hint('see "pgvigil cluster event --event=switchover_rolled_back" for the reason');
      return ExitCode.ERR_SWITCHOVER_FAIL;
    case 'failed':
      ctx.out.error(response?.message ?? 'switchover failed');
      return ExitCode.ERR_SWITCHOVER_FAIL;
    case 'incomplete':
      ctx.out.error('switchover incomplete: the candidate was promoted but not every step finished');
      ctx.out.hint('check "pgvigil cluster show"; the controller decides from here');
      return ExitCode.ERR_SWITCHOVER_INCOMPLETE;
    case 'timed_out':
      ctx.out.warning(`stopped following after ${waitSecs} s; the switchover continues in the controller`);
      ctx.out.hint('follow it with "pgvigil cluster event" and "pgvigil cluster show"');
      return ExitCode.ERR_SWITCHOVER_INCOMPLETE;
  }
}
