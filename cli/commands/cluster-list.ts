/**
 * `pgvigil cluster list`: every cluster in the state table with its term, primary, health, pause
 * and operation in progress. Health is what `cluster show` would report for each cluster (the same
 * {@link clusterShowModel}); the exit code is 25 (ERR_NODE_STATUS) when any cluster has issues.
 */
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { clusterShowModel } from '../../core/node-status.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { aws, clusterOption, jsonOption, openTarget } from '../context.js';
import {
  clusterListRow,
  clusterListRowUnhealthy,
  renderClusterListCsv,
  renderClusterListJson,
  renderClusterListTable,
  unreadableClusterRow,
  type ClusterListRow,
} from '../render/cluster-list.js';

export const clusterListCommand = defineCommand({
  words: ['cluster', 'list'],
  summary: 'list every cluster in the state table: term, primary, health, paused, operation in progress',
  usage: 'cluster list [--csv] [--json] [--terse] [--cluster ID]',
  examples: ['pgvigil cluster list', 'PGVIGIL_TABLE=pgvigil-prod pgvigil cluster list --json', 'pgvigil cluster list --cluster orders'],
  notes: [
    'The cluster the other commands address (--cluster, else PGVIGIL_CLUSTER_ID, else cluster_id from -f, else "default") is marked "*".',
    'Health "ok" means "pgvigil cluster show --cluster ID" finds no issue; run it for the details.',
  ],
  options: {
    csv: { type: 'boolean', description: 'CSV: cluster_id,term,primary_node_id,primary_node_name,issues(-1 unreadable),paused(1|0),operation' },
    terse: { type: 'boolean', short: 't', description: 'do not list the issues found (the exit code still reports them)' },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const target = await openTarget(ctx);
    const ids = await aws(target, () => target.store.listClusters());
    const rows: ClusterListRow[] = [];
    // One strongly consistent read per cluster, as `cluster show` makes; one at a time, which an
    // operator command can afford and which keeps a table of many clusters from being throttled.
    for (const id of ids) {
      const selected = id === target.clusterId;
      try {
        const loaded = await aws(target, () => target.store.load(id));
        // Gone between the index read and this one (unregistered meanwhile).
        if (!loaded) continue;
        rows.push(clusterListRow(clusterShowModel(loaded.snapshot, target.now(), loaded.rejected), selected));
      } catch (error) {
        if (!(error instanceof PgvigilError) || error.code !== 'BAD_INPUT') throw error;
        rows.push(unreadableClusterRow(id, error.detail ? `${error.message}: ${error.detail.replace(/\n/g, '; ')}` : error.message, selected));
      }
    }
    const status = rows.some(clusterListRowUnhealthy) ? ExitCode.ERR_NODE_STATUS : ExitCode.SUCCESS;
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(renderClusterListJson(target.tableName, rows));
      return status;
    }
    if (rows.length === 0) {
      ctx.out.notice(`no cluster in table "${target.tableName}" yet: register a primary first ("pgvigil primary register" on the primary host)`);
      return ExitCode.SUCCESS;
    }
    if (opt.flag(ctx, 'csv')) {
      for (const line of renderClusterListCsv(rows)) ctx.out.print(line);
      return status;
    }
    for (const line of renderClusterListTable(rows)) ctx.out.print(line);
    const issues = rows.flatMap((r) => r.issues.map((issue) => `cluster "${r.cluster_id}": ${issue}`));
    if (issues.length > 0 && !opt.flag(ctx, 'terse')) {
      ctx.out.print('');
      ctx.out.warning('following issues were detected');
      for (const issue of issues) ctx.out.print(`  - ${issue}`);
      ctx.out.hint('run "pgvigil cluster show --cluster ID" for a cluster\'s nodes');
    }
    for (const r of rows) for (const warning of r.warnings) ctx.out.warning(warning);
    return status;
  },
});
