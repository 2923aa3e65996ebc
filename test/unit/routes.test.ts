import { describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER_SETTINGS } from '../../core/model.js';
import { describeRoute, isDnsName, normalizeRecordName, parseHostPort, primaryRoutes } from '../../core/routes.js';

describe('primaryRoutes', () => {
  it('has no route for a cluster with neither an Elastic IP nor a Route 53 record', () => {
    expect(primaryRoutes(DEFAULT_CLUSTER_SETTINGS)).toEqual([]);
  });

  it('moves the Elastic IP first and the Route 53 record second when a cluster has both', () => {
    const routes = primaryRoutes({
      ...DEFAULT_CLUSTER_SETTINGS,
      vip_allocation_id: 'eipalloc-0123456789abcdef0',
      route53_zone_id: 'Z0123456789ABCDEFGHIJ',
      route53_record_name: 'Primary.Orders.internal.',
      route53_ttl: 10,
    });
    expect(routes).toEqual([
      { kind: 'elastic-ip', allocationId: 'eipalloc-0123456789abcdef0' },
      { kind: 'route53', record: { zoneId: 'Z0123456789ABCDEFGHIJ', name: 'Primary.Orders.internal.', ttl: 10 } },
    ]);
    expect(routes.map(describeRoute)).toEqual([
      'Elastic IP eipalloc-0123456789abcdef0',
      'Route 53 record primary.orders.internal (zone Z0123456789ABCDEFGHIJ, TTL 10 s)',
    ]);
  });

  it('has no Route 53 route when only half of the record is configured', () => {
    expect(primaryRoutes({ ...DEFAULT_CLUSTER_SETTINGS, route53_zone_id: 'Z0123456789ABCDEFGHIJ' })).toEqual([]);
  });
});

describe('record names and endpoints', () => {
  it('accepts fully qualified names and refuses single labels, spaces, wildcards and overlong labels', () => {
    for (const ok of ['primary.orders.internal', 'primary.orders.internal.', 'db-1.eu_west.example.com']) expect(isDnsName(ok), ok).toBe(true);
    for (const bad of ['db', 'primary orders.internal', '*.orders.internal', `${'a'.repeat(64)}.internal`, '-db.internal', 'db..internal', '']) {
      expect(isDnsName(bad), bad).toBe(false);
    }
  });

  it('normalises a record name the way Route 53 and its IAM condition key compare it', () => {
    expect(normalizeRecordName('Primary.Orders.Internal.')).toBe('primary.orders.internal');
  });

  it('reads host, host:port and [v6]:port, and refuses ports out of range and URLs', () => {
    expect(parseHostPort('nlb.internal')).toEqual({ host: 'nlb.internal', port: null });
    expect(parseHostPort('10.0.0.5:8008')).toEqual({ host: '10.0.0.5', port: 8008 });
    expect(parseHostPort('[fd00::5]:5433')).toEqual({ host: 'fd00::5', port: 5433 });
    for (const bad of ['nlb.internal:0', 'nlb.internal:65536', 'http://nlb.internal', ':8008', 'fd00::5:8008']) expect(parseHostPort(bad), bad).toBeUndefined();
  });
});
