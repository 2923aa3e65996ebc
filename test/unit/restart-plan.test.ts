import { describe, expect, it } from 'vitest';
import { describePlan, planRollingRestart, type RestartPlan } from '../../core/restart-plan.js';
import { SnapshotBuilder } from '../support/snapshot-builder.js';

const now = (b: SnapshotBuilder): number => b.now;

/** The plan as `kind node` words: what is done to whom, in order. */
function shape(plan: RestartPlan): string[] {
  return plan.steps.map((s) => (s.kind === 'switchover' ? `switchover ${s.old_primary.node_id}->${s.candidate.node_id}` : `${s.kind} ${s.node.node_id}`));
}

describe('planRollingRestart', () => {
  it('restarts the standbys one at a time, then switches over to the best standby, then checks the old primary', () => {
    const b = new SnapshotBuilder().node(2, { priority: 50 });
    const plan = planRollingRestart(b.build(), now(b), { pending: false });
    expect(shape(plan)).toEqual(['restart 2', 'restart 3', 'switchover 1->3', 'old_primary 1']);
    expect(plan.skipped).toEqual([{ node_id: 4, reason: 'a witness without a PostgreSQL server' }]);
    expect(describePlan(plan)).toEqual([
      '1. restart the standby node "pg2" (ID: 2) and wait until it streams again',
      '2. restart the standby node "pg3" (ID: 3) and wait until it streams again',
      '3. switch over from node "pg1" (ID: 1) to node "pg3" (ID: 3)',
      '4. wait until the old primary node "pg1" (ID: 1) streams from the new primary (the switchover stops and restarts it)',
    ]);
  });

  it('restarts a witness that runs PostgreSQL, before the switchover', () => {
    const b = new SnapshotBuilder().heartbeat(4, { server: {
      postmaster_running: true,
      accepting_connections: true,
      last_accepting_at: BUILDER_SAFE,
      down_since: null,
      in_recovery: false,
      system_identifier: null,
      timeline: 1,
      current_lsn: null,
      receive_lsn: null,
      replay_lsn: null,
      wal_receiver_status: null,
      wal_receiver_upstream_node_id: null,
      replication: [],
      synchronous_standby_names: null,
      data_directory_writable: true,
      fenced: false,
    } });
    expect(shape(planRollingRestart(b.build(), now(b), { pending: false }))).toEqual(['restart 2', 'restart 3', 'restart 4', 'switchover 1->2', 'old_primary 1']);
  });

  it('with --pending restarts only the nodes that report settings waiting for a restart', () => {
    const b = new SnapshotBuilder().server(3, { pending_restart: ['max_connections'] });
    const plan = planRollingRestart(b.build(), now(b), { pending: true });
    expect(shape(plan)).toEqual(['restart 3']);
    expect(plan.steps[0]).toMatchObject({ node: { pending_restart: ['max_connections'] } });
    expect(plan.skipped.map((s) => s.node_id).sort()).toEqual([1, 2, 4]);
  });

  it('with --pending and only the primary pending, switches over without restarting a standby', () => {
    const b = new SnapshotBuilder().server(1, { pending_restart: ['shared_buffers'] });
    expect(shape(planRollingRestart(b.build(), now(b), { pending: true }))).toEqual(['switchover 1->2', 'old_primary 1']);
  });

  it('with --pending and nothing pending, plans nothing', () => {
    const b = new SnapshotBuilder();
    expect(planRollingRestart(b.build(), now(b), { pending: true }).steps).toEqual([]);
  });

  it('honours a given candidate, and refuses one that cannot take over', () => {
    const b = new SnapshotBuilder();
    expect(shape(planRollingRestart(b.build(), now(b), { pending: false, candidateNodeId: 3 }))).toContain('switchover 1->3');
    expect(() => planRollingRestart(b.build(), now(b), { pending: false, candidateNodeId: 4 })).toThrow('the candidate node "witness" (ID: 4) is not a standby');
    expect(() => planRollingRestart(b.build(), now(b), { pending: false, candidateNodeId: 9 })).toThrow('no node with ID 9 is registered');
  });

  it('refuses to restart the primary when no standby can take over, rather than leave the cluster without a primary', () => {
    const b = new SnapshotBuilder().node(2, { priority: 0 }).server(3, { wal_receiver_status: null });
    expect(() => planRollingRestart(b.build(), now(b), { pending: false })).toThrow(
      'no standby can take over from the primary node "pg1" (ID: 1): node "pg2" (ID: 2) has priority 0 (never a candidate); node "pg3" (ID: 3) is not streaming',
    );
  });

  it('refuses while an operation is in flight, without a primary, or with a node to restart that is down or fenced', () => {
    const op = { id: 'op-1', kind: 'switchover' as const, term: 4, step: 'promote', candidate_node_id: 2, old_primary_node_id: 1, owner: 'x', started_at: 0, deadline: 1, data: {} };
    const cases: [SnapshotBuilder, RegExp][] = [
      [new SnapshotBuilder().cluster({ operation: op }), /a switchover is in progress \(step "promote"\)/],
      [new SnapshotBuilder().cluster({ primary_node_id: null }), /has no primary/],
      [new SnapshotBuilder().crashPrimary(), /the primary node "pg1" \(ID: 1\) is not serving/],
      [new SnapshotBuilder().silence(2), /node "pg2" \(ID: 2\) is not up: no heartbeat for/],
      [new SnapshotBuilder().node(3, { fenced: true }), /node "pg3" \(ID: 3\) is fenced/],
      [new SnapshotBuilder().node(2, { instance_id: null }), /node "pg2" \(ID: 2\) has no EC2 instance registered/],
    ];
    for (const [b, message] of cases) {
      let error: unknown;
      try {
        planRollingRestart(b.build(), b.now, { pending: false });
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(message), detail: 'nothing was restarted' });
    }
  });

  it('leaves inactive nodes out', () => {
    const b = new SnapshotBuilder().node(3, { active: false });
    const plan = planRollingRestart(b.build(), now(b), { pending: false });
    expect(shape(plan)).toEqual(['restart 2', 'switchover 1->2', 'old_primary 1']);
    expect(plan.skipped).toContainEqual({ node_id: 3, reason: 'inactive' });
  });
});

const BUILDER_SAFE = new SnapshotBuilder().now - 1000;
