import { clientUris, type ClientUriOptions } from '../../core/client-uris.js';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { clusterOption, jsonOption, loadCluster, openTarget } from '../context.js';
import { renderTable } from '../render/table.js';

export const DEFAULT_URI_DBNAME = 'postgres';

export const clusterUriCommand = defineCommand({
  words: ['cluster', 'uri'],
  summary: 'print libpq connection strings for the cluster\'s writers and readers (like pg_autoctl show uri)',
  usage: 'cluster uri [--dbname NAME] [--user NAME] [--json] [--cluster ID]',
  examples: [
    'pgvigil cluster uri --dbname=orders',
    'psql "$(pgvigil cluster uri --dbname=orders --json | jq -r \'.uris[] | select(.kind=="writers") | .uri\')"',
  ],
  notes: [
    'writers: every PostgreSQL node, the current primary first, target_session_attrs=read-write (libpq 10+):',
    '  libpq tries the hosts in order and keeps the one that accepts writes, so the string survives failovers.',
    'readers: standbys first, target_session_attrs=prefer-standby (libpq 14+) and load_balance_hosts=random',
    '  (libpq 16+; older libpq refuses the parameter: drop it there).',
    'Load balancer and Route 53 routes are listed when the cluster has writer_endpoint, reader_endpoint or',
    '  route53_record_name set. Hosts and ports come from the nodes\' conninfo; no user or password is copied.',
  ],
  options: {
    dbname: { type: 'string', description: `database name in the strings (default ${DEFAULT_URI_DBNAME})` },
    user: { type: 'string', description: 'user name in the strings (default none: libpq uses PGUSER or the OS user)' },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const options = uriOptions(ctx);
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    return printClusterUris(ctx, snapshot, options);
  },
});

function uriOptions(ctx: CommandContext): ClientUriOptions {
  const dbname = opt.string(ctx, 'dbname') ?? DEFAULT_URI_DBNAME;
  const user = opt.string(ctx, 'user');
  // Names go into the URI percent-encoded; an empty one or a control character is a typo.
  const control = (c: string) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f;
  for (const [name, value] of [['dbname', dbname], ['user', user]] as const) {
    if (value !== undefined && (value === '' || value.length > 63 || [...value].some(control))) {
      const shown = [...value].map((c) => (control(c) ? '?' : c)).join('');
      throw new PgvigilError('BAD_ARGUMENT', `option --${name} expects a name of 1-63 printable characters, got "${shown}"`);
    }
  }
  return { dbname, ...(user ? { user } : {}) };
}

/** Prints the connection strings of a loaded cluster (also `cluster show --uri`). */
export function printClusterUris(ctx: CommandContext, snapshot: ClusterSnapshot, options: ClientUriOptions): number {
  const { uris, skipped } = clientUris(snapshot, options);
  if (uris.length === 0) {
    throw new PgvigilError('NOT_FOUND', `no connection string for cluster "${snapshot.cluster.cluster_id}": no PostgreSQL node has a host clients can reach`, {
      detail: skipped.map((s) => `node "${s.node_name}" (ID: ${s.node_id}): ${s.reason}`).join('\n') || 'no PostgreSQL node is registered',
      hint: 'register the nodes with a conninfo that names their host (host=10.0.1.5 …), as the other nodes reach them',
    });
  }
  if (opt.flag(ctx, 'json')) {
    ctx.out.print(JSON.stringify({ cluster_id: snapshot.cluster.cluster_id, dbname: options.dbname, uris, skipped }, null, 2));
    return ExitCode.SUCCESS;
  }
  const rows = uris.map((u) => [u.kind, u.route, u.uri]);
  for (const line of renderTable([{ title: 'Type' }, { title: 'Route' }, { title: 'Connection string' }], rows)) ctx.out.print(line);
  for (const s of skipped) ctx.out.warning(`node "${s.node_name}" (ID: ${s.node_id}) is not in the strings: ${s.reason}`);
  const eip = snapshot.cluster.settings.vip_allocation_id;
  if (eip) ctx.out.notice(`the Elastic IP ${eip} also follows the primary: inside the VPC its public DNS name resolves to the primary's private address`);
  if (uris.some((u) => u.uri.includes('load_balance_hosts'))) ctx.out.notice('the readers string needs libpq 16 or later (load_balance_hosts); with libpq 14 or 15 leave that parameter out');
  return ExitCode.SUCCESS;
}
