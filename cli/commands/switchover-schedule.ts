/**
 * Scheduled switchovers (docs/operations.md, "Scheduled switchover"): `standby switchover
 * --candidate NODE --scheduled TIME` writes the schedule into the cluster record, the controller's
 * next evaluation after TIME starts it; `standby switchover --cancel` and `cluster
 * cancel-switchover` take it away again. `cluster show` lists it.
 */
import { hostname } from 'node:os';
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import type { ClusterSnapshot, NodeRecord, ScheduledSwitchover } from '../../core/model.js';
import { SCHEDULE_LATEST_START_MS, scheduleTimeProblem } from '../../core/scheduled-switchover.js';
import { aws, clusterOption, loadCluster, openTarget, type CliTarget } from '../context.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { parseNow } from '../snapshot-file.js';

/** One line for `cluster show` and the commands here. */
export function describeSchedule(schedule: ScheduledSwitchover, snapshot: ClusterSnapshot): string {
  const node = snapshot.nodes.find((n) => n.node_id === schedule.candidate_node_id);
  const who = node ? `node "${node.node_name}" (ID: ${node.node_id})` : `node ID ${schedule.candidate_node_id}`;
  return `switchover to ${who} scheduled for ${new Date(schedule.at).toISOString()}${schedule.siblings_follow ? ', siblings follow' : ''} (requested by ${schedule.requested_by})`;
}

async function recordScheduleEvent(ctx: CommandContext, target: CliTarget, snapshot: ClusterSnapshot, event: 'switchover_scheduled' | 'switchover_schedule_cancelled', schedule: ScheduledSwitchover): Promise<void> {
  await aws(target, () =>
    target.store.appendEvent({
      cluster_id: target.clusterId,
      node_id: schedule.candidate_node_id,
      event,
      successful: true,
      timestamp: target.now(),
      details: describeSchedule(schedule, snapshot),
      term: snapshot.cluster.term,
    }),
  ).catch((error: unknown) => ctx.out.warning(`done, but the event could not be recorded: ${(error as Error).message}`));
}

function requester(ctx: CommandContext): string {
  return `${ctx.env.USER ?? ctx.env.LOGNAME ?? 'unknown'}@${hostname()}`.slice(0, 256);
}

/** `standby switchover --candidate NODE --scheduled TIME`: refused for a time in the past or while another is scheduled. */
export async function scheduleSwitchover(ctx: CommandContext, target: CliTarget, snapshot: ClusterSnapshot, candidate: NodeRecord, atText: string): Promise<number> {
  const now = target.now();
  const at = parseNow(atText, '--scheduled');
  const problem = scheduleTimeProblem(at, now);
  if (problem) throw new PgvigilError('BAD_ARGUMENT', `cannot schedule a switchover: ${problem}`, { hint: 'give a time in the future, such as 2026-12-08T02:00:00Z' });
  const { cluster } = snapshot;
  if (candidate.node_id === cluster.primary_node_id) throw new PgvigilError('BAD_ARGUMENT', `node "${candidate.node_name}" (ID: ${candidate.node_id}) is the primary: choose a standby`);
  if (candidate.type !== 'standby' || !candidate.active) throw new PgvigilError('BAD_ARGUMENT', `node "${candidate.node_name}" (ID: ${candidate.node_id}) is not an active standby`);
  if (cluster.scheduled_switchover) {
    throw new PgvigilError('SWITCHOVER_FAIL', `a ${describeSchedule(cluster.scheduled_switchover, snapshot)}`, {
      hint: 'cancel it first with "pgvigil standby switchover --cancel"',
    });
  }
  const schedule: ScheduledSwitchover = { at, candidate_node_id: candidate.node_id, siblings_follow: opt.flag(ctx, 'siblings-follow'), requested_by: requester(ctx), requested_at: now };
  if (opt.flag(ctx, 'dry-run')) {
    ctx.out.info(`would schedule a ${describeSchedule(schedule, snapshot)}`);
    return ExitCode.SUCCESS;
  }
  const written = await aws(target, () => target.store.updateCluster(target.clusterId, cluster.version, { scheduled_switchover: schedule }, now));
  if (!written.ok) {
    throw new PgvigilError('SWITCHOVER_FAIL', `the cluster record of "${target.clusterId}" changed while the switchover was being scheduled: nothing was scheduled`, { hint: 'try again' });
  }
  await recordScheduleEvent(ctx, target, snapshot, 'switchover_scheduled', schedule);
  ctx.out.notice(`${describeSchedule(schedule, snapshot)}`);
  ctx.out.hint(`the controller starts it within a minute of that time (not later than ${SCHEDULE_LATEST_START_MS / 60_000} min), with the checks of "--dry-run" then; "pgvigil standby switchover --cancel" cancels it`);
  return ExitCode.SUCCESS;
}

/** Takes the scheduled switchover away; a notice, not an error, when none is scheduled. */
export async function cancelScheduledSwitchover(ctx: CommandContext): Promise<number> {
  const target = await openTarget(ctx);
  for (let attempt = 1; ; attempt++) {
    const { snapshot } = await loadCluster(target);
    const schedule = snapshot.cluster.scheduled_switchover;
    if (!schedule) {
      ctx.out.notice(`no switchover is scheduled for cluster "${target.clusterId}"`);
      return ExitCode.SUCCESS;
    }
    const written = await aws(target, () => target.store.updateCluster(target.clusterId, snapshot.cluster.version, { scheduled_switchover: null }, target.now()));
    if (written.ok) {
      await recordScheduleEvent(ctx, target, snapshot, 'switchover_schedule_cancelled', schedule);
      ctx.out.notice(`cancelled: ${describeSchedule(schedule, snapshot)}`);
      return ExitCode.SUCCESS;
    }
    if (attempt >= 5) throw new PgvigilError('SWITCHOVER_FAIL', `could not cancel the scheduled switchover of "${target.clusterId}": the cluster record kept changing`, { hint: 'check "pgvigil cluster show": it may have started' });
  }
}

export const clusterCancelSwitchoverCommand = defineCommand({
  words: ['cluster', 'cancel-switchover'],
  summary: 'cancel the switchover scheduled with "standby switchover --scheduled"',
  usage: 'cluster cancel-switchover [--cluster ID]',
  examples: ['pgvigil cluster cancel-switchover --cluster orders'],
  options: { ...clusterOption },
  run: (ctx) => cancelScheduledSwitchover(ctx),
});
