/**
 * Connection strings for the cluster's clients (`pgvigil cluster uri`, like `pg_autoctl show uri`):
 * libpq multi-host URIs built from the node records' conninfo — host and port only, never a user
 * or password from it — plus the load balancer and Route 53 routes when the cluster has them
 * (docs/deploy.md, "Routes to the primary").
 */
import { parseConninfo } from './conninfo.js';
import type { ClusterSnapshot, NodeRecord } from './model.js';
import { normalizeRecordName, parseHostPort } from './routes.js';

const DEFAULT_PORT = 5432;

export interface ClientUriOptions {
  /** The database clients connect to (the node records' conninfo names repmgr's). */
  dbname: string;
  /** A user to put in the URIs; none by default (libpq then uses PGUSER or the OS user). */
  user?: string;
}

export type ClientUriKind = 'writers' | 'readers' | 'writer' | 'reader';

export interface ClientUri {
  kind: ClientUriKind;
  /** Which route: every node, a load balancer, the Route 53 record. */
  route: string;
  uri: string;
}

export interface ClientUris {
  uris: ClientUri[];
  /** Data nodes left out of the multi-host strings, with why. */
  skipped: Array<{ node_id: number; node_name: string; reason: string }>;
}

interface Endpoint {
  host: string;
  port: number;
}

/** Every libpq URI a client of the cluster may use, writers first. */
export function clientUris(snapshot: ClusterSnapshot, options: ClientUriOptions): ClientUris {
  const { settings, primary_node_id: primaryId } = snapshot.cluster;
  const data = snapshot.nodes.filter((n) => n.type !== 'witness');
  const skipped: ClientUris['skipped'] = [];
  const endpoints = new Map<number, Endpoint[]>();
  for (const node of data) {
    const found = endpointsOf(node);
    if ('reason' in found) skipped.push({ node_id: node.node_id, node_name: node.node_name, reason: found.reason });
    else endpoints.set(node.node_id, found.endpoints);
  }
  const byPreference = (a: NodeRecord, b: NodeRecord) => b.priority - a.priority || a.node_id - b.node_id;
  const primary = data.filter((n) => n.node_id === primaryId);
  const standbys = data.filter((n) => n.node_id !== primaryId).sort(byPreference);
  const hostsOf = (nodes: NodeRecord[]) => nodes.flatMap((n) => endpoints.get(n.node_id) ?? []);
  const writers = hostsOf([...primary, ...standbys]);
  const uris: ClientUri[] = [];
  if (writers.length > 0) {
    const route = `${writers.length} host${writers.length === 1 ? '' : 's'}`;
    // The current primary first: the writer string finds it on the first try until a failover.
    uris.push({ kind: 'writers', route, uri: uri(writers, options, { target_session_attrs: 'read-write' }) });
    uris.push({
      kind: 'readers',
      route,
      uri: uri(hostsOf([...standbys, ...primary]), options, { target_session_attrs: 'prefer-standby', load_balance_hosts: 'random' }),
    });
  }
  const lb = (text: string | null) => (text ? parseHostPort(text) : undefined);
  const writer = lb(settings.writer_endpoint);
  // read-write on a single host too: a load balancer that finds no healthy target routes to all of
  // them, and a cached DNS answer may still name the former primary; libpq then refuses a standby.
  if (writer) uris.push({ kind: 'writer', route: 'load balancer', uri: uri([{ host: writer.host, port: writer.port ?? DEFAULT_PORT }], options, { target_session_attrs: 'read-write' }) });
  const reader = lb(settings.reader_endpoint);
  if (reader) uris.push({ kind: 'reader', route: 'load balancer', uri: uri([{ host: reader.host, port: reader.port ?? DEFAULT_PORT }], options, {}) });
  if (settings.route53_zone_id && settings.route53_record_name) {
    const port = (primary[0] && endpoints.get(primary[0].node_id)?.[0]?.port) ?? DEFAULT_PORT;
    const host = normalizeRecordName(settings.route53_record_name);
    uris.push({ kind: 'writer', route: 'Route 53 record', uri: uri([{ host, port }], options, { target_session_attrs: 'read-write' }) });
  }
  return { uris, skipped };
}

function endpointsOf(node: NodeRecord): { endpoints: Endpoint[] } | { reason: string } {
  let params: Record<string, string>;
  try {
    params = parseConninfo(node.conninfo);
  } catch {
    return { reason: 'its conninfo does not parse' };
  }
  const hosts = (params.host ?? params.hostaddr ?? '').split(',');
  const ports = (params.port ?? '').split(',');
  const endpoints: Endpoint[] = [];
  for (const [i, host] of hosts.entries()) {
    if (host === '') return { reason: 'its conninfo names no host (a local socket connection)' };
    if (host.startsWith('/') || host.startsWith('@')) return { reason: `its conninfo host "${host}" is a Unix-domain socket, which clients elsewhere cannot reach` };
    // libpq: one port for every host, or one per host.
    const port = ports.length === 1 ? ports[0] : ports[i];
    endpoints.push({ host, port: port ? Number(port) : DEFAULT_PORT });
  }
  return { endpoints };
}

function uri(endpoints: Endpoint[], options: ClientUriOptions, query: Record<string, string>): string {
  const user = options.user ? `${encodeURIComponent(options.user)}@` : '';
  const hosts = endpoints.map((e) => `${e.host.includes(':') ? `[${e.host}]` : encodeURIComponent(e.host)}:${e.port}`).join(',');
  const params = Object.entries(query).map(([k, v]) => `${k}=${v}`);
  return `postgresql://${user}${hosts}/${encodeURIComponent(options.dbname)}${params.length > 0 ? `?${params.join('&')}` : ''}`;
}
