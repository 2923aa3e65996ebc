import { describe, expect, it } from 'vitest';
import { EmfMetrics } from '../../adapters/emf-metrics.js';
import { DEFAULT_CLUSTER_SETTINGS, type NodeRecord } from '../../core/model.js';
import { shouldNotify } from '../../functions/controller.js';
import { readEnvironment } from '../../functions/environment.js';
import { mapLimit } from '../../functions/evaluator.js';
import { followersOf } from '../../functions/sagas/failover.js';
import { finalLsnFromOutput } from '../../functions/sagas/switchover.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';

function node(id: number, type: NodeRecord['type'], upstream: number | null, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    cluster_id: 'c',
    node_id: id,
    node_name: `pg${id}`,
    type,
    upstream_node_id: upstream,
    active: true,
    location: 'a',
    priority: 100,
    conninfo: `host=pg${id}`,
    repluser: null,
    slot_name: null,
    config_file: null,
    instance_id: null,
    fenced: false,
    instance_stopped_at: null,
    registered_at: 0,
    updated_at: 0,
    ...extra,
  };
}

describe('EmfMetrics', () => {
  it('writes one Embedded Metric Format line per dimension set in the pgvigil namespace', () => {
    const lines: string[] = [];
    const m = new EmfMetrics((l) => lines.push(l), () => 1234);
    m.put('Failovers', 1, 'Count', { ClusterId: 'a' });
    m.put('DecisionLatencyMs', 12, 'Milliseconds', { ClusterId: 'a' });
    m.put('DecisionLatencyMs', 15, 'Milliseconds', { ClusterId: 'a' });
    m.put('Failovers', 1, 'Count', { ClusterId: 'b' });
    m.flush();
    expect(lines).toHaveLength(2);
    const a = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(a).toEqual({
      _aws: {
        Timestamp: 1234,
        CloudWatchMetrics: [
          {
            Namespace: 'pgvigil',
            Dimensions: [['ClusterId']],
            Metrics: [
              { Name: 'Failovers', Unit: 'Count' },
              { Name: 'DecisionLatencyMs', Unit: 'Milliseconds' },
            ],
          },
        ],
      },
      ClusterId: 'a',
      Failovers: 1,
      DecisionLatencyMs: [12, 15],
    });
    m.flush();
    expect(lines).toHaveLength(2); // flushed values are not written twice
  });
});

describe('followersOf', () => {
  it('makes every active standby follow the new primary except cascaded ones, fenced ones and witnesses', () => {
    const nodes = [
      node(1, 'primary', null),
      node(2, 'standby', 1),
      node(3, 'standby', 1),
      node(4, 'standby', 3), // cascaded under 3: keeps its upstream
      node(5, 'standby', 1, { fenced: true }),
      node(6, 'witness', null),
      node(7, 'standby', 2), // cascaded under the new primary: nothing to change, but following it is harmless
    ];
    expect(followersOf(nodes, 1, 2)).toEqual([3, 7]);
  });
});

describe('finalLsnFromOutput', () => {
  it('reads the final LSN the demote action prints, or the highest LSN in its output', () => {
    expect(finalLsnFromOutput('NOTICE: shutdown complete\nINFO: final LSN: 0/5000028')).toBe('0/5000028');
    expect(finalLsnFromOutput('checkpoint at 0/4000000, stopped at 0/40000A0')).toBe('0/40000A0');
    expect(finalLsnFromOutput('no position here')).toBeNull();
  });
});

describe('parseSwitchoverRequest', () => {
  it('accepts the SSM Automation strings and the CLI booleans', () => {
    expect(parseSwitchoverRequest({ cluster_id: 'main', candidate_node_id: '2', siblings_follow: 'true', dry_run: 'false' })).toEqual({
      cluster_id: 'main',
      candidate_node_id: 2,
      siblings_follow: true,
      dry_run: false,
    });
    expect(parseSwitchoverRequest({ cluster_id: 'main', candidate_node_id: 3 })).toMatchObject({ siblings_follow: false, dry_run: false });
  });

  it('names every bad field', () => {
    expect(() => parseSwitchoverRequest({ cluster_id: '', candidate_node_id: 0 })).toThrow(/invalid switchover request/);
    expect(() => parseSwitchoverRequest('switch please')).toThrow(/invalid switchover request/);
  });

  it('refuses a key it does not know, naming it, rather than ignore what the caller meant', () => {
    expect(() => parseSwitchoverRequest({ cluster_id: 'main', candidate_node_id: 3, dryrun: true })).toThrow(
      expect.objectContaining({ code: 'BAD_INPUT', detail: 'dryrun: unknown key (did you mean "dry_run"?)' }),
    );
  });
});

describe('shouldNotify', () => {
  it('publishes everything when event_notifications is unset, only the listed events otherwise', () => {
    expect(shouldNotify(DEFAULT_CLUSTER_SETTINGS, 'fence_applied')).toBe(true);
    const filtered = { ...DEFAULT_CLUSTER_SETTINGS, event_notifications: ['repmgrd_failover_promote'] };
    expect(shouldNotify(filtered, 'repmgrd_failover_promote')).toBe(true);
    expect(shouldNotify(filtered, 'fence_applied')).toBe(false);
  });
});

describe('readEnvironment', () => {
  it('requires the table and defaults the document prefix', () => {
    expect(() => readEnvironment({})).toThrow(/PGVIGIL_TABLE.*required/);
    expect(readEnvironment({ PGVIGIL_TABLE: 't' })).toEqual({ table: 't', topicArn: null, documentPrefix: 'pgvigil' });
    expect(() => readEnvironment({ PGVIGIL_TABLE: 't', PGVIGIL_SSM_DOCUMENT_PREFIX: 'a b' })).toThrow(/PGVIGIL_SSM_DOCUMENT_PREFIX/);
  });
});

describe('mapLimit', () => {
  it('never runs more than the limit at once and keeps results in order, failures included', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await Promise.resolve();
      await Promise.resolve();
      running -= 1;
      if (n === 4) throw new Error('four');
      return n * 10;
    });
    expect(peak).toBe(3);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'x'))).toEqual([10, 20, 30, 'x', 50, 60, 70]);
  });
});

describe('sweep', () => {
  it('leaves the clusters it has no time for to the next sweep instead of timing out', async () => {
    const { sweep } = await import('../../functions/evaluator.js');
    let left = 60_000;
    const evaluated: string[] = [];
    const deps = {
      store: {
        listClusters: async () => ['a', 'b', 'c'],
        load: async (id: string) => {
          evaluated.push(id);
          left -= 30_000;
          return undefined;
        },
      },
      clock: { now: () => 0, sleep: async () => undefined },
      metrics: { put: () => undefined, flush: () => undefined },
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => deps.log },
    } as unknown as Parameters<typeof sweep>[0];
    const result = await sweep(deps, { owner: 'x', remainingMs: () => left }, 1);
    expect(evaluated).toEqual(['a', 'b']);
    expect(result.skipped).toEqual(['c']);
    expect(result.results.map((r) => r.code)).toEqual(['missing', 'missing']);
  });
});
