import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { z } from 'zod';
import { CHECKED_FIELDS, SCHEMA_CHECKS, checkClusterRecord, checkClusterSettings, checkEventRecord, checkHeartbeatRecord, checkNodeRecord } from '../../core/model-check.js';
import * as bundleModel from '../../agent/bundle-model.js';
import { PgvigilError } from '../../core/errors.js';
import * as model from '../../core/model.js';
import type { Validated } from '../../core/model.js';

const NOW = 1_760_000_000_000;

const node: model.NodeRecord = {
  cluster_id: 'main.db-1',
  node_id: 2,
  node_name: 'node2',
  type: 'standby',
  upstream_node_id: 1,
  active: true,
  location: 'eu-west-1a',
  priority: 100,
  conninfo: 'host=10.0.0.2 user=repmgr dbname=repmgr connect_timeout=2',
  repluser: 'repmgr',
  slot_name: 'repmgr_slot_2',
  config_file: '/etc/pgvigil/repmgr.conf',
  instance_id: 'i-0000000000000002',
  fenced: false,
  registered_at: NOW - 86_400_000,
  updated_at: NOW,
};

const heartbeat: model.Heartbeat = {
  cluster_id: 'main.db-1',
  node_id: 1,
  seq: 100,
  sent_at: NOW,
  agent_version: '0.1.0',
  term: 3,
  server: {
    postmaster_running: true,
    accepting_connections: true,
    last_accepting_at: NOW,
    down_since: null,
    in_recovery: false,
    system_identifier: '7300000000000000001',
    timeline: 2,
    current_lsn: '0/5000000',
    receive_lsn: null,
    replay_lsn: '0/4000000',
    wal_receiver_status: 'streaming',
    wal_receiver_upstream_node_id: 3,
    replication: [
      { application_name: 'node2', client_addr: '10.0.0.2', state: 'streaming', sync_state: 'sync', sent_lsn: '0/5000000', write_lsn: '0/5000000', flush_lsn: null, replay_lsn: '0/4FFFFF0' },
    ],
    synchronous_standby_names: 'FIRST 1 (node2)',
    data_directory_writable: true,
    replication_lag_secs: 1.5,
    fenced: false,
  },
  reachability: [{ node_id: 2, ok: false, checked_at: NOW, last_ok_at: NOW - 60_000, failures: 6 }],
};

const cluster: model.ClusterRecord = {
  cluster_id: 'main.db-1',
  term: 3,
  primary_node_id: 1,
  paused: false,
  operation: { id: 'op-1', kind: 'failover', term: 3, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'req-1', deadline: NOW + 60_000, started_at: NOW, data: { settled_lsn: '0/5000000', ids: ['a'] } },
  lease: { holder_node_id: 1, term: 3, rvn: 'abc123', renewed_at: NOW },
  lease_observation: { rvn: 'abc123', first_seen_at: NOW },
  settings: { ...model.DEFAULT_CLUSTER_SETTINGS, event_notifications: ['standby_promote'], maximum_lag_on_failover: 1024, vip_allocation_id: 'eipalloc-1' },
  reported_conditions: ['alarm:replication_lag_critical:2'],
  version: 7,
  created_at: NOW - 86_400_000,
  updated_at: NOW,
};

const event: model.EventRecord = { cluster_id: 'main.db-1', node_id: 0, event: 'standby_promote', successful: true, timestamp: NOW, details: 'promoted', term: 3 };

const cases: Array<{ name: string; schema: z.ZodType<unknown>; check: (input: unknown) => Validated<unknown>; fixture: unknown }> = [
  { name: 'node record', schema: model.NodeRecordSchema, check: checkNodeRecord, fixture: node },
  { name: 'heartbeat', schema: model.HeartbeatSchema, check: checkHeartbeatRecord, fixture: heartbeat },
  { name: 'heartbeat of a witness', schema: model.HeartbeatSchema, check: checkHeartbeatRecord, fixture: { ...heartbeat, server: null } },
  { name: 'cluster record', schema: model.ClusterRecordSchema, check: checkClusterRecord, fixture: cluster },
  { name: 'cluster settings', schema: model.ClusterSettingsSchema, check: checkClusterSettings, fixture: cluster.settings },
  { name: 'event', schema: model.EventRecordSchema, check: checkEventRecord, fixture: event },
];

/** Every path into a fixture (object keys and array indexes), and where an unknown key could go. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value !== 'object' || value === null) return [];
  const out: Array<Array<string | number>> = [[...prefix, 'unknown_key']];
  for (const [k, v] of Object.entries(value)) {
    const key = Array.isArray(value) ? Number(k) : k;
    out.push([...prefix, key], ...paths(v, [...prefix, key]));
  }
  return out;
}

const MISSING = Symbol('missing');
const weird: unknown[] = [
  MISSING, null, undefined, true, false, 0, -0, 1, -1, 0.5, 1.5, 2, 5, 2_147_483_647, 2_147_483_648, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), NaN, Infinity, -Infinity,
  '', 'x', ' ', '\u00e9', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(129), 'a'.repeat(257), 'a'.repeat(4097), 'a'.repeat(8193), '0/3000060', '0/', 'ZZ/1', '1/FFFFFFFF',
  'primary', 'witness', 'sync', 'quorum', 'manual', 'none', 'ssm-only', 'failover', 'standby_promote', 'bogus', 'host=x password=y', 'postgresql://u:p@h/db',
  '7300000000000000001', '123456789012345678901', 'ab-c', '-abc', 'a'.repeat(63), [], [1], ['x'], [{}], {}, { a: 1 }, new Date(0), Object.create(null), new Map(),
];

function mutate(fixture: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(fixture) as Record<string | number, unknown>;
  let target = copy;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (value === MISSING) delete target[last];
  else target[last] = value;
  return copy;
}

function pathsOf(result: Validated<unknown>): string[] {
  return result.ok ? [] : [...new Set(result.errors.map((e) => e.slice(0, e.indexOf(': '))))].sort();
}

describe('the hand-written validators of the daemon path', () => {
  it('know exactly the fields of the zod schemas they stand in for', () => {
    for (const [name, fields] of Object.entries(CHECKED_FIELDS)) {
      const schema = (model as unknown as Record<string, z.ZodObject>)[name];
      expect(Object.keys(schema?.shape ?? {}).sort(), name).toEqual([...fields].sort());
    }
  });

  it('accept the valid records the zod schemas accept, with the same values', () => {
    for (const c of cases) {
      const expected = model.validate(c.schema, c.fixture);
      expect(expected.ok, c.name).toBe(true);
      expect(c.check(c.fixture), c.name).toEqual(expected);
    }
  });

  it('apply the same defaults (cluster settings, a node without "fenced", an operation without data)', () => {
    expect(checkClusterRecord({ ...cluster, settings: {} })).toEqual({ ok: true, value: { ...cluster, settings: model.DEFAULT_CLUSTER_SETTINGS } });
    const { fenced: _fenced, ...unfenced } = node;
    expect(checkNodeRecord(unfenced)).toEqual({ ok: true, value: node });
    const { data: _data, ...bare } = cluster.operation as model.Operation;
    expect(checkClusterRecord({ ...cluster, operation: bare })).toEqual(model.validate(model.ClusterRecordSchema, { ...cluster, operation: bare }));
  });

  it('reject a bad record naming the field, and drop unknown keys', () => {
    expect(checkHeartbeatRecord(mutate(heartbeat, ['server', 'timeline'], 0))).toEqual({ ok: false, errors: ['server.timeline: expected a number > 0, got 0'] });
    expect(checkHeartbeatRecord(mutate(heartbeat, ['reachability', 0, 'node_id'], 'two'))).toEqual({ ok: false, errors: ['reachability.0.node_id: expected a number, got string'] });
    expect(checkNodeRecord({ ...node, conninfo: 'host=x password=secret' })).toEqual({ ok: false, errors: ['conninfo: conninfo must not contain a password'] });
    expect(checkClusterRecord({ ...cluster, settings: { ...cluster.settings, lease_secs: -1 } })).toEqual({ ok: false, errors: ['settings.lease_secs: expected a number > 0, got -1'] });
    expect(checkEventRecord([])).toEqual({ ok: false, errors: ['(root): expected an object, got array'] });
    expect(checkEventRecord({ ...event, extra: 1 })).toEqual({ ok: true, value: event });
  });

  it('give the same verdict, value and failing fields as zod for thousands of mutated records', () => {
    // Cases by index, so a counterexample prints as the case and its mutations only.
    const arbitrary = fc
      .integer({ min: 0, max: cases.length - 1 })
      .chain((i) => fc.tuple(fc.constant(i), fc.array(fc.tuple(fc.constantFrom(...paths(cases[i]?.fixture)), fc.oneof(fc.constantFrom(...weird), fc.integer(), fc.double(), fc.string())), { minLength: 1, maxLength: 3 })));
    fc.assert(
      fc.property(arbitrary, ([i, mutations]) => {
        const c = cases[i] as (typeof cases)[number];
        let input = c.fixture;
        for (const [path, value] of mutations) {
          try {
            input = mutate(input, path, value);
          } catch {
            // The path went away with an earlier mutation.
          }
        }
        const expected = model.validate(c.schema, input);
        const actual = c.check(input);
        expect(actual.ok, `${c.name}: ${JSON.stringify(mutations)}`).toBe(expected.ok);
        if (expected.ok) expect(actual).toEqual(expected);
        else expect(pathsOf(actual), `${c.name}: ${JSON.stringify(mutations)}`).toEqual(pathsOf(expected));
      }),
      { numRuns: 5000, seed: 20261122 },
    );
  }, 30_000);
});

describe("the agent bundle's stand-ins for core/model.ts", () => {
  it('exist for every schema that has a validator, and nothing else is exported but validate', () => {
    expect(Object.keys(bundleModel).sort()).toEqual([...Object.keys(SCHEMA_CHECKS), 'validate'].sort());
  });

  it('parse like the zod schemas, and refuse bad input with a BAD_INPUT error naming the field', () => {
    expect(bundleModel.NodeRecordSchema.parse({ ...node, extra: true })).toEqual(model.NodeRecordSchema.parse({ ...node, extra: true }));
    expect(bundleModel.ClusterSettingsSchema.parse({})).toEqual(model.DEFAULT_CLUSTER_SETTINGS);
    expect(() => bundleModel.NodeRecordSchema.parse({ ...node, conninfo: 'host=x password=secret' })).toThrow(
      new PgvigilError('BAD_INPUT', 'NodeRecord is not valid: conninfo: conninfo must not contain a password'),
    );
    expect(bundleModel.validate(bundleModel.EventRecordSchema, { ...event, details: 7 })).toEqual(model.validate(model.EventRecordSchema, { ...event, details: 7 }).ok ? null : { ok: false, errors: ['details: expected a string, got number'] });
    expect(bundleModel.HeartbeatSchema.safeParse(heartbeat)).toEqual({ success: true, data: heartbeat });
  });
});
