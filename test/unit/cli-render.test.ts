import { describe, expect, it } from 'vitest';
import { renderTable, csvLine } from '../../cli/render/table.js';
import { renderClusterShowCsv, renderClusterShowTable } from '../../cli/render/cluster-show.js';
import { renderMatrix } from '../../cli/render/matrix.js';
import { renderSingleCheck } from '../../shell/render/node.js';
import { eventRows, formatTimestamp, renderEventCsv, renderEventJson, renderEventTable } from '../../cli/render/cluster-event.js';
import { CHECKS, heartbeatCheck, replicationLagCheck, upstreamCheck, worstStatus } from '../../core/node-checks.js';
import { clusterShowModel, formatAge, observeNode, prettyBytes, statusMarker } from '../../core/node-status.js';
import { crosscheckMatrix, reachabilityMatrix } from '../../core/reachability-matrix.js';
import { DEFAULT_CLUSTER_SETTINGS, type ClusterSnapshot, type NodeRecord } from '../../core/model.js';
import { NOW, clusterRecord, heartbeat, nodeRecord, primaryServer, reach, standbyServer } from '../support/cli-cluster.js';

function snapshot(nodes: NodeRecord[], heartbeats: ClusterSnapshot['heartbeats']): ClusterSnapshot {
  return { cluster: clusterRecord('u'), nodes, heartbeats };
}

describe('renderTable', () => {
  it("lays out cells as repmgr does: padded, ' | ' between, '-+-' joints, no trailing blanks", () => {
    expect(renderTable([{ title: 'ID' }, { title: 'Name' }, { title: 'Hidden', hidden: true }, { title: 'Status' }], [['1', 'node1', 'x', '* running'], ['10', 'n', 'y', '']])).toEqual([
      ' ID | Name  | Status',
      '----+-------+-----------',
      ' 1  | node1 | * running',
      ' 10 | n     |',
    ]);
  });

  it('quotes CSV fields that need it', () => {
    expect(csvLine([1, 'a,b', 'say "hi"', null, true])).toBe('1,"a,b","say ""hi""",,true');
  });
});

describe('cluster show model', () => {
  it('never prints a password, even from a node record written without validation', () => {
    const node = nodeRecord('u', 1, { conninfo: 'host=db1 password=s3cret user=repmgr' });
    const model = clusterShowModel(snapshot([node], [heartbeat('u', 1, primaryServer())]), NOW);
    const text = [...renderClusterShowTable(model), JSON.stringify(model)].join('\n');
    expect(text).not.toContain('s3cret');
    expect(model.rows[0]?.conninfo).toBe('host=db1 user=repmgr');
  });

  it("prints repmgr's CSV codes: up/down and primary/standby/unknown", () => {
    const model = clusterShowModel(
      snapshot([nodeRecord('u', 1), nodeRecord('u', 2), nodeRecord('u', 3)], [
        heartbeat('u', 1, primaryServer()),
        heartbeat('u', 2, standbyServer(1)),
        heartbeat('u', 3, standbyServer(1), { sent_at: NOW - 3_600_000 }),
      ]),
      NOW,
    );
    expect(renderClusterShowCsv(model)).toEqual(['1,0,0', '2,0,1', '3,-1,-1']);
  });

  it('judges freshness with the node timeout plus the clock skew margin, and a heartbeat from the future as skewed', () => {
    const node = nodeRecord('u', 2);
    const s = DEFAULT_CLUSTER_SETTINGS;
    const at = (sent: number): ReturnType<typeof observeNode> => observeNode(node, heartbeat('u', 2, standbyServer(1), { sent_at: sent }), s, NOW);
    expect(at(NOW - s.node_timeout_secs * 1000 - s.clock_skew_margin_ms).state).toBe('up');
    expect(at(NOW - s.node_timeout_secs * 1000 - s.clock_skew_margin_ms - 1).state).toBe('silent');
    expect(at(NOW + s.clock_skew_margin_ms).skewed).toBe(false);
    expect(at(NOW + s.clock_skew_margin_ms + 1)).toMatchObject({ state: 'silent', skewed: true });
  });

  it.each([
    ['primary', true, false, '* running'],
    ['primary', true, true, '! running as standby'],
    ['primary', false, false, '! running'],
    ['standby', true, true, '  running'],
    ['standby', true, false, '! running as primary'],
    ['standby', false, true, '! running'],
    ['standby', false, false, '! running as primary'],
  ] as const)('marks an up %s (active %s, in recovery %s) as "%s"', (type, active, inRecovery, marker) => {
    const node = nodeRecord('u', 5, { type, active });
    const obs = observeNode(node, heartbeat('u', 5, primaryServer({ in_recovery: inRecovery })), DEFAULT_CLUSTER_SETTINGS, NOW);
    expect(statusMarker(obs).status).toBe(marker);
  });

  it('appends (fenced) when the node record or the agent says the node is fenced', () => {
    const node = nodeRecord('u', 1);
    const obs = observeNode(node, heartbeat('u', 1, primaryServer({ postmaster_running: false, accepting_connections: false, fenced: true })), DEFAULT_CLUSTER_SETTINGS, NOW);
    expect(statusMarker(obs).status).toBe('? unreachable (fenced)');
  });
});

describe('formatting', () => {
  it.each([
    [0, '0 bytes'],
    [10_239, '10239 bytes'],
    [65_536, '64 kB'],
    [16 * 1024 * 1024, '16 MB'],
    [3 * 1024 ** 4, '3072 GB'],
  ])('prints %d bytes as pg_size_pretty does: %s', (bytes, text) => {
    expect(prettyBytes(bytes)).toBe(text);
  });

  it.each([
    [999, '0 s'],
    [59_999, '59 s'],
    [61_000, '1 min 1 s'],
    [7_260_000, '2 h 1 min'],
    [90_000_000, '1 d 1 h'],
  ])('prints an age of %d ms as "%s"', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });

  it('prints event timestamps as repmgr does, in UTC', () => {
    expect(formatTimestamp(NOW)).toBe('2025-10-09 08:53:20');
  });

  it('shows an event’s structured fields (a failover’s data-loss record) in --json only, and no info key for an event without them', () => {
    const base = { cluster_id: 'u', event: 'repmgrd_failover_promote' as const, successful: true, timestamp: NOW, term: 4 };
    const info = { former_primary_node_id: 1, data_loss_bytes: 96, data_loss_window_ms: 20_500, candidate_synchronous: false };
    const rows = eventRows(
      [
        { ...base, node_id: 2, details: 'node 2 promoted to primary of term 4 (timeline 3); data loss: …', info },
        { ...base, node_id: 3, event: 'agent_start', details: 'agent started' },
      ],
      new Map([[2, 'node2'], [3, 'node3']]),
    );
    const parsed = JSON.parse(renderEventJson('u', rows)) as { events: Record<string, unknown>[] };
    expect(parsed.events[0]?.info).toEqual(info);
    expect(parsed.events[1]).not.toHaveProperty('info');
    expect(renderEventTable(rows).join('\n')).not.toContain('data_loss_bytes');
    expect(renderEventCsv(rows)[0]).toBe('2,node2,repmgrd_failover_promote,t,2025-10-09 08:53:20');
  });
});

describe('node checks from a heartbeat', () => {
  const settings = DEFAULT_CLUSTER_SETTINGS;

  it('grades replication lag against the cluster thresholds with Nagios perfdata', () => {
    const node = nodeRecord('u', 2);
    expect(replicationLagCheck(node, standbyServer(1, { replication_lag_secs: 299 }), settings)).toEqual({ status: 'OK', detail: '299 seconds', perfdata: 'lag=299;300;600' });
    expect(replicationLagCheck(node, standbyServer(1, { replication_lag_secs: 300 }), settings).status).toBe('WARNING');
    expect(replicationLagCheck(node, standbyServer(1, { replication_lag_secs: 600 }), settings).status).toBe('CRITICAL');
    expect(replicationLagCheck(node, standbyServer(1, { replication_lag_secs: null }), settings).status).toBe('UNKNOWN');
  });

  it('finds a standby streaming from another node than its registered upstream', () => {
    const nodes = [nodeRecord('u', 1), nodeRecord('u', 2), nodeRecord('u', 3)];
    const outcome = upstreamCheck(nodes[2] as NodeRecord, standbyServer(2), nodes);
    expect(outcome).toEqual({ status: 'CRITICAL', detail: 'node "node3" (ID: 3) streams from node "node2" (ID: 2), its registered upstream is node "node1" (ID: 1)' });
  });

  it('answers UNKNOWN for checks a heartbeat cannot carry, and renders Nagios lines', () => {
    const node = nodeRecord('u', 2);
    const obs = observeNode(node, heartbeat('u', 2, standbyServer(1)), settings, NOW);
    const def = CHECKS.find((d) => d.option === 'slots')!;
    const outcome = heartbeatCheck('slots', obs, [node], settings);
    expect(outcome.status).toBe('UNKNOWN');
    expect(renderSingleCheck({ def, outcome }, 'nagios')).toBe('REPMGR_INACTIVE_SLOTS UNKNOWN: not reported in heartbeats; run "pgvigil node check --slots" on the node itself');
    expect(worstStatus(['OK', 'WARNING', 'UNKNOWN', 'CRITICAL'])).toBe('UNKNOWN');
  });
});

describe('reachability matrix', () => {
  const nodes = [nodeRecord('u', 1), nodeRecord('u', 2), nodeRecord('u', 3, { type: 'witness', node_name: 'w' })];

  it("shows each agent's own checks, unknown rows for silent agents, - for the witness nobody checks, and merges both ends in crosscheck", () => {
    const s = snapshot(nodes, [
      heartbeat('u', 1, primaryServer(), { sent_at: NOW - 600_000 }),
      heartbeat('u', 2, standbyServer(1), { reachability: [reach(1, false)] }),
      heartbeat('u', 3, null, { reachability: [reach(1, true), reach(2, true)] }),
    ]);
    expect(renderMatrix(reachabilityMatrix(s, NOW))).toEqual([
      ' Name  | ID | 1 | 2 | 3',
      '-------+----+---+---+---',
      ' node1 | 1  | ? | ? | -',
      ' node2 | 2  | x | * | -',
      ' w     | 3  | * | * | -',
    ]);
    const cross = crosscheckMatrix(s, NOW);
    expect(cross.values).toEqual([
      [0, -1, 0],
      [-1, 0, 0],
      [0, 0, -3],
    ]);
  });
});
