/**
 * switchover: a planned switchover to a standby, through the same path as `pgvigil standby
 * switchover --siblings-follow` (cli/switchover.ts's in-process invoker: functions/switchover.ts),
 * with the sandbox's SSM runner, fencer and Elastic IP mover.
 */
import { systemClock } from '../../adapters/system-clock.js';
import { InProcessSwitchoverInvoker } from '../../cli/switchover.js';
import { decide } from '../../core/engine/index.js';
import { PgvigilError } from '../../core/errors.js';
import type { Metrics, Notifier } from '../../core/ports.js';
import { silentLogger } from '../../functions/log.js';
import { SANDBOX_TIMINGS } from '../controller.js';
import { pgNodes, type Scenario } from './runner.js';

const noNotifier: Notifier = { publish: async () => undefined };
const noMetrics: Metrics = { put: () => undefined, flush: () => undefined };

export const switchover: Scenario = {
  name: 'switchover',
  summary: 'planned switchover to a standby (`standby switchover --siblings-follow`): demote, catch up, promote, VIP, rejoin',
  proves: 'a planned switchover loses no committed write, keeps one writable primary at a time, and ends with the old primary streaming as a standby',
  failoverExpected: true,
  async inject(ctx) {
    const { sandbox } = ctx;
    const candidate = pgNodes(sandbox)
      .filter((n) => n.node_id !== ctx.oldPrimary.node_id)
      .sort((a, b) => b.priority - a.priority || a.node_id - b.node_id)[0];
    if (!candidate) throw new PgvigilError('SYS_FAILURE', 'switchover drill: no standby to promote');
    const invoker = new InProcessSwitchoverInvoker({
      store: ctx.store,
      hosts: sandbox.hostCommands,
      vip: sandbox.vipMover(),
      fencer: sandbox.fencer,
      notifier: noNotifier,
      metrics: noMetrics,
      clock: systemClock,
      log: silentLogger,
      decide,
      timings: SANDBOX_TIMINGS,
    });
    const response = await invoker.invoke({ cluster_id: sandbox.state.clusterId, candidate_node_id: candidate.node_id, siblings_follow: true, dry_run: false });
    ctx.notes.push(`switchover to ${candidate.node_name}: ${response.outcome ?? (response.ok ? 'ok' : 'failed')}: ${response.message}`);
  },
};
