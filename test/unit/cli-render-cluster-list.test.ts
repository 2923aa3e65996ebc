import { describe, expect, it } from 'vitest';
import { clusterShowModel } from '../../core/node-status.js';
import { clusterListRow, renderClusterListCsv, renderClusterListTable, unreadableClusterRow } from '../../cli/render/cluster-list.js';
import { NOW, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer } from '../support/cli-cluster.js';

/** A primary and a standby that report; the cluster record overridden as given. */
function model(id: string, cluster: Parameters<typeof clusterRecord>[1] = {}, silentStandby = false) {
  const heartbeats = [heartbeat(id, 1, primaryServer())];
  if (!silentStandby) heartbeats.push(heartbeat(id, 2, standbyServer(1)));
  return clusterShowModel({ cluster: clusterRecord(id, cluster), nodes: [nodeRecord(id, 1), nodeRecord(id, 2)], heartbeats }, NOW);
}

describe('cluster list rendering', () => {
  it('names the primary by name and id, "-" when the cluster has none, and says when the record names an unregistered one', () => {
    const rows = [
      clusterListRow(model('a'), false),
      clusterListRow(model('b', { primary_node_id: null }), false),
      clusterListRow(model('c', { primary_node_id: 5 }), true),
    ];
    expect(renderClusterListTable(rows).slice(2).map((l) => l.split(' | ')[2]?.trim())).toEqual(['node1 (ID: 1)', '-', 'ID 5 (not registered)']);
    expect(rows[2]?.health).toBe('1 issue');
  });

  it('counts the issues cluster show finds as the health, and is "ok" only without any', () => {
    const healthy = model('ok');
    const silent = model('silent', {}, true);
    expect([healthy.issues.length, clusterListRow(healthy, false).health]).toEqual([0, 'ok']);
    expect(silent.issues.length).toBeGreaterThan(0);
    expect(clusterListRow(silent, false).health).toBe(`${silent.issues.length} issue${silent.issues.length === 1 ? '' : 's'}`);
    expect(clusterListRow(silent, false).issues).toEqual(silent.issues);
  });

  it('leaves the unknown cells of an unreadable cluster empty and marks it -1 in CSV', () => {
    const row = unreadableClusterRow('broken', 'the cluster record of "broken" is not valid', false);
    expect(renderClusterListTable([row])[2]).toBe('   broken |      |         | unreadable |         |');
    expect(renderClusterListCsv([row])).toEqual(['broken,,,,-1,,']);
  });
});
