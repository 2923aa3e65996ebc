import { EVENT_NAMES, isEventName } from '../../core/events.js';
import { PgvigilError } from '../../core/errors.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { aws, clusterOption, findNode, jsonOption, loadCluster, nodeIdOption, openTarget } from '../context.js';
import { eventRows, renderEventCsv, renderEventJson, renderEventTable } from '../render/cluster-event.js';

export const clusterEventCommand = defineCommand({
  words: ['cluster', 'event'],
  summary: 'list the events recorded for the cluster, newest first',
  usage: 'cluster event [--limit N] [--all] [--event E] [--node-id N | --node-name X] [--compact] [--csv] [--json] [--cluster ID]',
  examples: ['pgvigil cluster event --event=standby_promote', 'pgvigil cluster event --node-id=2 --limit=5'],
  options: {
    limit: { type: 'integer', description: 'show at most N events (default 20)' },
    all: { type: 'boolean', description: 'show every matching event (overrides --limit)' },
    event: { type: 'string', description: 'only events of this type, e.g. standby_promote' },
    'node-id': { type: 'integer', description: 'only events of this node' },
    'node-name': { type: 'string', description: 'only events of the node with this name' },
    compact: { type: 'boolean', description: 'omit the Details column' },
    csv: { type: 'boolean', description: "repmgr's CSV: node_id,node_name,event,successful,timestamp (no details; see --json)" },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const limit = opt.integer(ctx, 'limit') ?? 20;
    if (limit < 1) throw new PgvigilError('BAD_ARGUMENT', `option --limit expects a positive integer, got ${limit}`);
    const event = opt.string(ctx, 'event');
    if (event !== undefined && !isEventName(event)) {
      const close = EVENT_NAMES.filter((n) => n.includes(event) || event.includes(n.split('_')[0] ?? n));
      throw new PgvigilError('BAD_ARGUMENT', `unknown event "${event}"`, {
        hint: close.length > 0 ? `did you mean ${close.slice(0, 5).join(', ')}?` : 'see docs/cli.md for the event names',
      });
    }
    const nodeIdArg = nodeIdOption(ctx);
    const nodeName = opt.string(ctx, 'node-name');
    if (nodeIdArg !== undefined && nodeName !== undefined) {
      throw new PgvigilError('BAD_ARGUMENT', 'give either --node-id or --node-name, not both');
    }
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const nodeId = nodeName !== undefined ? findNode(snapshot, { nodeName }).node_id : nodeIdArg;
    const events = await aws(target, () =>
      target.store.listEvents(target.clusterId, {
        newestFirst: true,
        ...(opt.flag(ctx, 'all') ? {} : { limit }),
        ...(event !== undefined ? { event } : {}),
        ...(nodeId !== undefined ? { nodeId } : {}),
      }),
    );
    const rows = eventRows(events, new Map(snapshot.nodes.map((n) => [n.node_id, n.node_name])));
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(renderEventJson(target.clusterId, rows));
      return 0;
    }
    if (rows.length === 0) {
      ctx.out.print('no matching events found');
      return 0;
    }
    const lines = opt.flag(ctx, 'csv') ? renderEventCsv(rows) : renderEventTable(rows, { compact: opt.flag(ctx, 'compact') });
    for (const line of lines) ctx.out.print(line);
    return 0;
  },
});
