import { describe, expect, it } from 'vitest';
import { clusterShowModel } from '../../core/node-status.js';
import { NOW, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer } from '../support/cli-cluster.js';

describe('cluster show and pending restarts', () => {
  it('marks a running node whose agent reports settings waiting for a restart', () => {
    const model = clusterShowModel(
      {
        cluster: clusterRecord('u'),
        nodes: [nodeRecord('u', 1), nodeRecord('u', 2)],
        heartbeats: [heartbeat('u', 1, primaryServer({ pending_restart: ['max_connections', 'shared_buffers'] })), heartbeat('u', 2, standbyServer(1, { pending_restart: [] }))],
      },
      NOW,
    );
    expect(model.notices).toEqual(['node "node1" (ID: 1) has settings waiting for a restart: max_connections, shared_buffers']);
  });

  it('marks nothing for an agent that does not report pending restarts', () => {
    const model = clusterShowModel({ cluster: clusterRecord('u'), nodes: [nodeRecord('u', 1)], heartbeats: [heartbeat('u', 1, primaryServer())] }, NOW);
    expect(model.notices).toEqual([]);
  });
});
