import { describe, expect, it } from 'vitest';
import { eventEnvironment, eventPlaceholders, eventSelected, expandEventCommand, pgTimestamp } from '../../core/event-command.js';
import type { EventRecord } from '../../core/model.js';
import { clusterSnapshot } from '../support/snapshot-builder.js';

const at = Date.UTC(2026, 11, 7, 3, 12, 5, 123);
const promote: EventRecord = {
  cluster_id: 'main',
  node_id: 2,
  event: 'repmgrd_failover_promote',
  successful: true,
  timestamp: at,
  details: 'node 2 promoted to primary of term 4 (timeline 3)',
  term: 4,
  info: { former_primary_node_id: 1 },
};

describe('eventSelected', () => {
  it('lets every event through when event_notifications is empty, all or unset, as repmgr does', () => {
    expect(eventSelected([], 'standby_follow')).toBe(true);
    expect(eventSelected(['all'], 'standby_follow')).toBe(true);
    expect(eventSelected(null, 'standby_follow')).toBe(true);
  });
  it('lets only the listed events through otherwise', () => {
    expect(eventSelected(['repmgrd_failover_promote'], 'repmgrd_failover_promote')).toBe(true);
    expect(eventSelected(['repmgrd_failover_promote'], 'standby_follow')).toBe(false);
  });
  it('never runs the command for its own failures, so a failing command cannot feed itself', () => {
    expect(eventSelected(['all'], 'event_notification_failed')).toBe(false);
    expect(eventSelected(['event_notification_failed'], 'event_notification_failed')).toBe(false);
  });
});

describe('expandEventCommand', () => {
  it('fills in repmgr\'s placeholders, %p of a failover promotion being the former primary', () => {
    const v = eventPlaceholders(promote, undefined);
    expect(expandEventCommand('/x %n %e %s "%t" "%d" %p [%c] [%a] 100%% %z', v)).toBe(
      '/x 2 repmgrd_failover_promote 1 "2026-12-07 03:12:05.123+00" "node 2 promoted to primary of term 4 (timeline 3)" 1 [] [] 100% %z',
    );
  });

  it('gives %p, %c and %a of a follow event from the node\'s upstream in the cluster record', () => {
    const snap = clusterSnapshot().build();
    const primary = snap.nodes.find((n) => n.node_id === snap.cluster.primary_node_id);
    const standby = snap.nodes.find((n) => n.type === 'standby');
    const follow: EventRecord = { cluster_id: 'main', node_id: standby?.node_id ?? 0, event: 'standby_follow', successful: true, timestamp: at, details: 'followed', term: 4 };
    const v = eventPlaceholders(follow, snap);
    expect(v.p).toBe(String(primary?.node_id));
    expect(v.c).toBe(primary?.conninfo);
    expect(v.a).toBe(primary?.node_name);
  });

  it('leaves %p, %c and %a empty where repmgr defines none', () => {
    const v = eventPlaceholders({ ...promote, event: 'fence_applied' }, clusterSnapshot().build());
    expect([v.p, v.c, v.a]).toEqual(['', '', '']);
    expect(v.s).toBe('1');
    expect(eventPlaceholders({ ...promote, successful: false }, undefined).s).toBe('0');
  });

  it('takes out of the values what a shell would read inside quotes, and keeps the exact text in the environment', () => {
    const nasty = { ...promote, details: 'failed: "x" $(rm -rf /) `id` it\'s \\ done\nsecond line' };
    const v = eventPlaceholders(nasty, undefined);
    expect(expandEventCommand('echo "%d"', v)).toBe('echo "failed: x (rm -rf /) id its  done second line"');
    expect(expandEventCommand("echo '%d'", v)).not.toMatch(/'.*'.*'/);
    const env = eventEnvironment(nasty, v);
    expect(env.PGVIGIL_EVENT_DETAILS).toBe(nasty.details);
    expect(env).toMatchObject({ PGVIGIL_EVENT: 'repmgrd_failover_promote', PGVIGIL_EVENT_NODE_ID: '2', PGVIGIL_EVENT_PRIMARY_NODE_ID: '1', PGVIGIL_EVENT_TERM: '4' });
    expect(JSON.parse(env.PGVIGIL_EVENT_INFO ?? '')).toEqual({ former_primary_node_id: 1 });
  });
});

describe('pgTimestamp', () => {
  it('writes the time as PostgreSQL prints a UTC timestamptz, like repmgr\'s event_timestamp', () => {
    expect(pgTimestamp(at)).toBe('2026-12-07 03:12:05.123+00');
  });
});
