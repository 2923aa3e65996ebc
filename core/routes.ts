/**
 * The routes that lead clients to the primary (docs/deploy.md, "Routes to the primary"): an
 * Elastic IP, a record in a private Route 53 hosted zone, or both, chosen per cluster by its
 * settings. The controller moves every configured route when the primary changes; the load
 * balancer routes (an NLB or HAProxy following the agents' health endpoints) need no moving and
 * are only named here so that `pgvigil cluster uri` can print them.
 */

/**
 * The cluster settings that name routes (the cluster record's, core/config/settings.ts; an unset
 * route is null there). Spelt out rather than imported because the settings' key table imports
 * this module's DNS checks.
 */
export interface RouteSettings {
  vip_allocation_id: string | null;
  route53_zone_id: string | null;
  route53_record_name: string | null;
  route53_ttl: number;
}

/** A route the controller points at the primary's instance. */
export type PrimaryRoute =
  | { kind: 'elastic-ip'; allocationId: string }
  | { kind: 'route53'; record: DnsRecord };

/** An A record in a (private) hosted zone. */
export interface DnsRecord {
  zoneId: string;
  /** As configured; compare through {@link normalizeRecordName}. */
  name: string;
  /** Seconds resolvers may cache the answer. */
  ttl: number;
}

/** What moving a {@link DnsRecord} did. */
export interface RecordChange {
  /** The private address the record now holds. */
  address: string;
  /** Route 53's change id; null when the record already held that address (nothing sent). */
  changeId: string | null;
  /** True once Route 53 reported the change applied on all its servers within the wait. */
  insync: boolean;
}

/** The routes configured for a cluster, Elastic IP first (it takes effect at once). */
export function primaryRoutes(settings: RouteSettings): PrimaryRoute[] {
  const routes: PrimaryRoute[] = [];
  if (settings.vip_allocation_id) routes.push({ kind: 'elastic-ip', allocationId: settings.vip_allocation_id });
  if (settings.route53_zone_id && settings.route53_record_name) {
    routes.push({ kind: 'route53', record: { zoneId: settings.route53_zone_id, name: settings.route53_record_name, ttl: settings.route53_ttl } });
  }
  return routes;
}

/** How a route reads in events and dry-run checks. */
export function describeRoute(route: PrimaryRoute): string {
  return route.kind === 'elastic-ip'
    ? `Elastic IP ${route.allocationId}`
    : `Route 53 record ${normalizeRecordName(route.record.name)} (zone ${route.record.zoneId}, TTL ${route.record.ttl} s)`;
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const DNS_NAME = new RegExp(`^(?:${LABEL}\\.)+${LABEL}\\.?$`);

/** A fully qualified DNS name of at least two labels (letters, digits, "-", "_"), at most 253 characters. */
export function isDnsName(name: string): boolean {
  return name.replace(/\.$/, '').length <= 253 && DNS_NAME.test(name);
}

/**
 * A record name as Route 53 compares it and as IAM's `route53:ChangeResourceRecordSetsNormalizedRecordNames`
 * condition key holds it: lower case, without the trailing dot.
 */
export function normalizeRecordName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** `host[:port]`, `[v6-address][:port]`; the port is null when not given. */
export interface HostPort {
  host: string;
  port: number | null;
}

/** Reads `host[:port]`; undefined when the text is not one. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const port = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}
