import { ExitCode } from '../../core/exit-codes.js';
import { HOST_EVENT_LOOKBACK_MS, HOST_EVENT_NAMES, hostEventWarnings } from '../../core/host-events.js';
import { clusterShowModel } from '../../core/node-status.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { aws, clusterOption, jsonOption, loadCluster, openTarget } from '../context.js';
import { DEFAULT_URI_DBNAME, printClusterUris } from './cluster-uri.js';
import { describeSchedule } from './switchover-schedule.js';
import { renderClusterShowCsv, renderClusterShowJson, renderClusterShowTable } from '../render/cluster-show.js';

export const clusterShowCommand = defineCommand({
  words: ['cluster', 'show'],
  summary: 'display information about each registered node in the cluster',
  usage: 'cluster show [--compact] [--csv] [--json] [--verbose] [--terse] [--uri] [--cluster ID]',
  examples: ['pgvigil -f /etc/pgvigil/repmgr.conf cluster show', 'PGVIGIL_CLUSTER_ID=orders pgvigil cluster show --compact'],
  options: {
    compact: { type: 'boolean', description: 'omit the connection string and shorten column titles' },
    csv: { type: 'boolean', description: "repmgr's CSV: node_id,connection_status(0|-1),recovery_type(0 primary|1 standby|-1 unknown)" },
    verbose: { type: 'boolean', short: 'v', description: 'say why each node that is not running looks the way it does' },
    terse: { type: 'boolean', short: 't', description: 'do not list the issues found (the exit code still reports them)' },
    uri: { type: 'boolean', description: `print the clients' connection strings instead (cluster uri, database ${DEFAULT_URI_DBNAME})` },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const target = await openTarget(ctx);
    const { snapshot, rejected } = await loadCluster(target);
    if (opt.flag(ctx, 'uri')) return printClusterUris(ctx, snapshot, { dbname: DEFAULT_URI_DBNAME });
    const model = clusterShowModel(snapshot, target.now(), rejected);
    // Nodes whose instance AWS means to take, from the events the host-events function recorded.
    const since = target.now() - HOST_EVENT_LOOKBACK_MS;
    const hostEvents = await Promise.all(HOST_EVENT_NAMES.map((event) => aws(target, () => target.store.listEvents(target.clusterId, { event, sinceMs: since }))));
    model.warnings.push(...hostEventWarnings(snapshot, hostEvents.flat(), target.now()));
    const status = model.issues.length > 0 ? ExitCode.ERR_NODE_STATUS : ExitCode.SUCCESS;
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(renderClusterShowJson(model));
      return status;
    }
    if (opt.flag(ctx, 'csv')) {
      for (const line of renderClusterShowCsv(model)) ctx.out.print(line);
      return status;
    }
    for (const line of renderClusterShowTable(model, { compact: opt.flag(ctx, 'compact') })) ctx.out.print(line);
    if (opt.flag(ctx, 'verbose')) {
      for (const row of model.rows) if (row.reason) ctx.out.info(`node "${row.node_name}" (ID: ${row.node_id}): ${row.reason}`);
    }
    for (const notice of model.notices) ctx.out.notice(notice);
    if (model.issues.length > 0 && !opt.flag(ctx, 'terse')) {
      ctx.out.print('');
      ctx.out.warning('following issues were detected');
      for (const issue of model.issues) ctx.out.print(`  - ${issue}`);
      if (!opt.flag(ctx, 'verbose') && model.rows.some((r) => r.reason)) ctx.out.hint('execute with --verbose to see why nodes are not running');
    }
    for (const warning of model.warnings) ctx.out.warning(warning);
    if (snapshot.cluster.scheduled_switchover) ctx.out.notice(`a ${describeSchedule(snapshot.cluster.scheduled_switchover, snapshot)}`);
    return status;
  },
});
