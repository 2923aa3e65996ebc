import { describe, expect, it } from 'vitest';
import { clientUris } from '../../core/client-uris.js';
import { SnapshotBuilder } from '../support/snapshot-builder.js';

const hosts = (b: SnapshotBuilder) =>
  b
    .node(1, { conninfo: 'host=10.0.1.5 port=5432 user=repmgr dbname=repmgr connect_timeout=2' })
    .node(2, { conninfo: 'host=10.0.2.5 user=repmgr dbname=repmgr' })
    .node(3, { conninfo: 'postgresql://repmgr@10.0.3.5:5433/repmgr' });

describe('clientUris', () => {
  it('lists every PostgreSQL node (never the witness) with its host and port, the primary first for writers and last for readers', () => {
    const { uris, skipped } = clientUris(hosts(new SnapshotBuilder()).node(3, { priority: 150 }).build(), { dbname: 'orders' });
    expect(skipped).toEqual([]);
    expect(uris).toEqual([
      { kind: 'writers', route: '3 hosts', uri: 'postgresql://10.0.1.5:5432,10.0.3.5:5433,10.0.2.5:5432/orders?target_session_attrs=read-write' },
      {
        kind: 'readers',
        route: '3 hosts',
        uri: 'postgresql://10.0.3.5:5433,10.0.2.5:5432,10.0.1.5:5432/orders?target_session_attrs=prefer-standby&load_balance_hosts=random',
      },
    ]);
  });

  it('copies no user from the conninfo, and percent-encodes the user and database given', () => {
    const { uris } = clientUris(hosts(new SnapshotBuilder()).build(), { dbname: 'my db', user: 'app@eu' });
    for (const u of uris) {
      expect(u.uri).not.toContain('repmgr');
      expect(u.uri).toMatch(/^postgresql:\/\/app%40eu@.*\/my%20db/);
    }
  });

  it('keeps multi-host conninfos (one port each, or one for all) and brackets IPv6 addresses', () => {
    const snapshot = new SnapshotBuilder({ standbys: 1, witness: false })
      .node(1, { conninfo: 'host=fd00::5,db1b port=5432,6432' })
      .node(2, { conninfo: 'hostaddr=10.0.2.5 port=6543' })
      .build();
    expect(clientUris(snapshot, { dbname: 'postgres' }).uris[0]?.uri).toBe(
      'postgresql://[fd00::5]:5432,db1b:6432,10.0.2.5:6543/postgres?target_session_attrs=read-write',
    );
  });

  it('leaves out a node reached through a Unix-domain socket or no host at all, saying why', () => {
    const snapshot = new SnapshotBuilder()
      .node(2, { conninfo: 'host=/var/run/postgresql dbname=repmgr' })
      .node(3, { conninfo: 'dbname=repmgr' })
      .node(1, { conninfo: 'host=10.0.1.5' })
      .build();
    const { uris, skipped } = clientUris(snapshot, { dbname: 'postgres' });
    expect(uris[0]?.uri).toBe('postgresql://10.0.1.5:5432/postgres?target_session_attrs=read-write');
    expect(skipped).toEqual([
      { node_id: 2, node_name: 'pg2', reason: 'its conninfo host "/var/run/postgresql" is a Unix-domain socket, which clients elsewhere cannot reach' },
      { node_id: 3, node_name: 'pg3', reason: 'its conninfo names no host (a local socket connection)' },
    ]);
  });

  it('adds the load balancer and Route 53 routes, each writer route with read-write so a stale route cannot hand out a standby', () => {
    const snapshot = hosts(new SnapshotBuilder())
      .settings({
        writer_endpoint: 'orders-nlb.elb.eu-west-1.amazonaws.com',
        reader_endpoint: 'orders-nlb.elb.eu-west-1.amazonaws.com:5433',
        route53_zone_id: 'Z0123456789ABCDEFGHIJ',
        route53_record_name: 'Primary.Orders.internal.',
      })
      .build();
    expect(clientUris(snapshot, { dbname: 'orders' }).uris.slice(2)).toEqual([
      { kind: 'writer', route: 'load balancer', uri: 'postgresql://orders-nlb.elb.eu-west-1.amazonaws.com:5432/orders?target_session_attrs=read-write' },
      { kind: 'reader', route: 'load balancer', uri: 'postgresql://orders-nlb.elb.eu-west-1.amazonaws.com:5433/orders' },
      { kind: 'writer', route: 'Route 53 record', uri: 'postgresql://primary.orders.internal:5432/orders?target_session_attrs=read-write' },
    ]);
  });
});
