import { PgvigilError } from '../../core/errors.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { aws, clusterOption, loadCluster, openTarget } from '../context.js';

const DAY_MS = 86_400_000;
/** The largest time the table's 15-digit sort keys hold. */
const END_OF_TIME_MS = 999_999_999_999_999;

export const clusterCleanupCommand = defineCommand({
  words: ['cluster', 'cleanup'],
  summary: 'delete monitoring history older than N days (all of it without --keep-history)',
  usage: 'cluster cleanup [--keep-history=DAYS] [--cluster ID]',
  examples: ['pgvigil cluster cleanup --keep-history=30'],
  options: {
    'keep-history': { type: 'integer', short: 'k', description: 'keep the last DAYS days of monitoring history (default 0: delete all)' },
    ...clusterOption,
  },
  async run(ctx) {
    const days = opt.integer(ctx, 'keep-history') ?? 0;
    if (days < 0) throw new PgvigilError('BAD_ARGUMENT', `option --keep-history expects a number of days (0 or more), got ${days}`);
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const now = target.now();
    // Without --keep-history everything goes, including samples stamped by an agent whose clock runs ahead.
    const before = days === 0 ? END_OF_TIME_MS : now - days * DAY_MS;
    ctx.out.info(days === 0 ? 'deleting all monitoring history' : `deleting monitoring history older than ${days} day(s)`);
    const deleted = await aws(target, () => target.store.deleteMonitoringBefore(target.clusterId, before));
    const details = days === 0 ? `${deleted} monitoring history records deleted` : `${deleted} monitoring history records older than ${days} day(s) deleted`;
    await aws(target, () =>
      target.store.appendEvent({
        cluster_id: target.clusterId,
        node_id: snapshot.cluster.primary_node_id ?? 0,
        event: 'cluster_cleanup',
        successful: true,
        timestamp: now,
        details,
        term: snapshot.cluster.term,
      }),
    );
    ctx.out.notice(details);
    return 0;
  },
});
