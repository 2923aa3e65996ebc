/**
 * An action's write of its own node record lands on the record as it is when it writes, not as it
 * was when the action started (agent/actions/roles.ts `updateOwnRecord`). A 30-minute campaign
 * lost a node this way: a failover's fence action ran for seconds on a frozen server, the
 * controller meanwhile stopped its instance and recorded `instance_stopped_at`, and the action's
 * late write from its first read erased it, so auto_rejoin never started the instance again.
 * The state store is DynamoDB on a private moto server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordRejoined, updateOwnRecord } from '../../agent/actions/roles.js';
import type { ActionContext } from '../../agent/actions/context.js';
import type { AgentConfig } from '../../agent/config.js';
import { memoryOutput } from '../../shell/output.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';
import { startStore, type StoreFixture } from '../support/store.js';

let fx: StoreFixture;
beforeAll(async () => {
  fx = await startStore('pgvigil-own-record');
}, 150_000);
afterAll(async () => {
  await fx?.stop();
});

function context(clusterId: string, nodeId: number): ActionContext {
  return { config: { cluster_id: clusterId, node_id: nodeId } as AgentConfig, store: fx.store, out: memoryOutput(), now: () => Date.now(), term: 2 };
}

describe("an action's write of its own node record", () => {
  it("keeps what the controller wrote after the action's first read (a fence that stopped the instance), and applies the action's change", async () => {
    const snapshot = withClusterId(new SnapshotBuilder({ now: Date.now() }).build(), 'own-record-1');
    expect((await fx.store.createCluster(snapshot.cluster)).ok).toBe(true);
    for (const n of snapshot.nodes) await fx.store.putNode(n);
    // The fence action reads the cluster when it starts …
    const atStart = await fx.store.load('own-record-1');
    const node1 = atStart?.snapshot.nodes.find((n) => n.node_id === 1);
    expect(node1).toMatchObject({ active: true, fenced: false, instance_stopped_at: null });
    // … the controller's fence stops the instance meanwhile and records it …
    const stoppedAt = Date.now();
    await fx.store.putNode({ ...(node1 as NonNullable<typeof node1>), active: false, fenced: true, instance_stopped_at: stoppedAt, updated_at: stoppedAt });
    // … and the action, finishing, records its own fence.
    await updateOwnRecord(context('own-record-1', 1), atStart, { fenced: true });
    const after = (await fx.store.load('own-record-1'))?.snapshot.nodes.find((n) => n.node_id === 1);
    expect(after).toMatchObject({ active: false, fenced: true, instance_stopped_at: stoppedAt });
  });

  it('writes from what the action read when the store cannot be read again', async () => {
    const snapshot = withClusterId(new SnapshotBuilder({ now: Date.now() }).build(), 'own-record-2');
    expect((await fx.store.createCluster(snapshot.cluster)).ok).toBe(true);
    for (const n of snapshot.nodes) await fx.store.putNode(n);
    const atStart = await fx.store.load('own-record-2');
    const ctx = context('own-record-2', 2);
    let reads = 0;
    ctx.store = Object.assign(Object.create(fx.store) as typeof fx.store, {
      async load(): Promise<never> {
        reads += 1;
        throw new Error('throttled');
      },
    });
    await updateOwnRecord(ctx, atStart, { fenced: true });
    expect(reads).toBe(1);
    expect((await fx.store.load('own-record-2'))?.snapshot.nodes.find((n) => n.node_id === 2)).toMatchObject({ fenced: true, active: true, type: 'standby' });
  });
});

// A drills-in-a-row run: node 3 followed node 2 while node 2 was the primary; node 2 failed, node 1
// was promoted, node 2 rejoined under node 1 before node 3 was dealt with, and node 3, still pointed
// at node 2, streamed through it. Registered under a standby, it looked cascaded, and no one made it
// follow the primary again (docs/decision-engine.md, "Order").
describe("a rejoin's record", () => {
  it("registers a former primary's standbys under its new upstream, and nothing else", async () => {
    const now = Date.now();
    const snapshot = withClusterId(
      new SnapshotBuilder({ now, standbys: 3 })
        .node(2, { type: 'primary', upstream_node_id: null, active: false, fenced: true })
        .node(3, { upstream_node_id: 2 })
        .node(4, { upstream_node_id: 3 })
        .node(5, { upstream_node_id: 2 })
        .cluster({ primary_node_id: 1 })
        .build(),
      'own-record-3',
    );
    expect((await fx.store.createCluster(snapshot.cluster)).ok).toBe(true);
    for (const n of snapshot.nodes) await fx.store.putNode(n);
    const atStart = await fx.store.load('own-record-3');
    await recordRejoined(context('own-record-3', 2), atStart, 1);
    const nodes = new Map((await fx.store.load('own-record-3'))?.snapshot.nodes.map((n) => [n.node_id, n]));
    expect(nodes.get(2)).toMatchObject({ type: 'standby', upstream_node_id: 1, active: true, fenced: false });
    expect(nodes.get(3)).toMatchObject({ type: 'standby', upstream_node_id: 1 });
    // A standby cascaded under node 3 stays there; the witness (node 5) is no standby.
    expect(nodes.get(4)).toMatchObject({ type: 'standby', upstream_node_id: 3 });
    expect(nodes.get(5)).toMatchObject({ type: 'witness', upstream_node_id: 2 });
  });

  it("leaves the standbys cascaded under a standby that rejoins where they are", async () => {
    const now = Date.now();
    const snapshot = withClusterId(new SnapshotBuilder({ now, standbys: 3 }).node(3, { fenced: true }).node(4, { upstream_node_id: 3 }).build(), 'own-record-4');
    expect((await fx.store.createCluster(snapshot.cluster)).ok).toBe(true);
    for (const n of snapshot.nodes) await fx.store.putNode(n);
    await recordRejoined(context('own-record-4', 3), await fx.store.load('own-record-4'), 1);
    const nodes = new Map((await fx.store.load('own-record-4'))?.snapshot.nodes.map((n) => [n.node_id, n]));
    expect(nodes.get(3)).toMatchObject({ type: 'standby', upstream_node_id: 1, fenced: false });
    expect(nodes.get(4)).toMatchObject({ type: 'standby', upstream_node_id: 3 });
  });
});
