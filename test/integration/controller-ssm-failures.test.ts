/**
 * SSM failure paths. moto's SendCommand always reports Success, so here SSM alone is an
 * aws-sdk-client-mock stub (scripted per document); DynamoDB, EC2 and SNS are still moto.
 */
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient, type GetCommandInvocationCommandOutput } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SsmHostCommands } from '../../adapters/ssm-host-commands.js';
import type { ClusterSettings } from '../../core/model.js';
import type { HostAction } from '../../core/ports.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';
import { switchoverEntry } from '../../functions/switchover-entry.js';
import { ControllerFixture, DOCUMENT_PREFIX, invocation, reactingHosts } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';

let f: ControllerFixture;
let counter = 0;
const ssmClient = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const ssm = mockClient(ssmClient);

type Script = (document: string, nodeId: string) => Partial<GetCommandInvocationCommandOutput> | 'throttle';
let script: Script;
let sent: { document: string; nodeId: string; term: string }[];

beforeAll(async () => {
  f = await ControllerFixture.start();
  await f.createInstances([1, 2, 3, 4]);
});
afterAll(async () => {
  await f?.stop();
});

beforeEach(() => {
  sent = [];
  script = () => ({ Status: 'Success', ResponseCode: 0 });
  ssm.reset();
  const commands = new Map<string, { document: string; nodeId: string }>();
  ssm.on(SendCommandCommand).callsFake((input: { DocumentName: string; Parameters: Record<string, string[]> }) => {
    const nodeId = input.Parameters.NodeId?.[0] ?? '';
    if (script(input.DocumentName, nodeId) === 'throttle' && !sent.some((s) => s.document === `throttled:${input.DocumentName}`)) {
      sent.push({ document: `throttled:${input.DocumentName}`, nodeId, term: '' });
      const e = new Error('Rate exceeded');
      e.name = 'ThrottlingException';
      throw e;
    }
    const id = `cmd-${sent.length + 1}`;
    sent.push({ document: input.DocumentName, nodeId, term: input.Parameters.Term?.[0] ?? '' });
    commands.set(id, { document: input.DocumentName, nodeId });
    return { Command: { CommandId: id } };
  });
  ssm.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
    const c = commands.get(input.CommandId);
    const r = c ? script(c.document, c.nodeId) : { Status: 'Failed' };
    return r === 'throttle' ? { Status: 'Success', ResponseCode: 0 } : r;
  });
});

/** Controller deps whose SSM is the scripted stub; hosts react only where `react` says so. */
function deps(react: (a: HostAction) => boolean = () => true) {
  const hosts = new SsmHostCommands(ssmClient, { documentPrefix: DOCUMENT_PREFIX, pollIntervalMs: 10, clock: f.clock, retry: { baseDelayMs: 5 } });
  return f.deps({ hosts: reactingHosts(hosts, f, react) });
}

async function crashedCluster(settings: Partial<ClusterSettings> = {}): Promise<{ id: string; term: number }> {
  counter += 1;
  const id = `ssm-${counter}`;
  const built = new SnapshotBuilder({ now: f.clock.now() }).crashPrimary().settings({ promote_check_timeout: 1, election_rerun_interval: 15, ...settings }).build();
  const snapshot = withClusterId(built, id);
  await f.seed(snapshot);
  return { id, term: snapshot.cluster.term };
}

describe('SSM failures during a failover', () => {
  it('aborts the round when promote fails, says why, and tries again after election_rerun_interval', async () => {
    const { id, term } = await crashedCluster();
    // The agent's refusal before pg_promote() says so (core/host-actions.ts).
    script = (doc) => (doc === 'pgvigil-Promote' ? { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 8, StandardErrorContent: `ERROR: failover_validation_command returned 1\nDETAIL: ${PROMOTE_NOT_STARTED}` } : { Status: 'Success', ResponseCode: 0 });
    const first = await evaluateCluster(deps((a) => a.action !== 'promote'), invocation(), id);
    expect(first.saga).toBe('cooldown');

    const aborted = await f.store.listEvents(id, { event: 'repmgrd_failover_aborted' });
    expect(aborted).toHaveLength(1);
    expect(aborted[0]?.details).toMatch(/promote on node 2 failed: SSM status Failed, exit code 8: ERROR: failover_validation_command returned 1/);
    const cluster = (await f.store.load(id))?.snapshot.cluster;
    expect(cluster).toMatchObject({ term: term + 1, primary_node_id: 1 });
    expect(cluster?.operation?.step).toBe('cooldown');
    expect(sent.filter((s) => s.document === 'pgvigil-Follow')).toEqual([]);

    // Within the cooldown nothing new starts.
    expect((await evaluateCluster(deps(), invocation(), id)).saga).toBe('in_progress');
    expect(sent.filter((s) => s.document === 'pgvigil-Promote')).toHaveLength(1);

    // After it, the engine decides again; this time the promote succeeds.
    script = () => ({ Status: 'Success', ResponseCode: 0 });
    f.clock.advance(16_000);
    await f.refreshHeartbeats(id);
    const second = await evaluateCluster(deps(), invocation(), id);
    expect(second.saga).toBe('completed');
    const after = (await f.store.load(id))?.snapshot.cluster;
    expect(after).toMatchObject({ term: term + 2, primary_node_id: 2, operation: null });
    expect(sent.filter((s) => s.document === 'pgvigil-Promote').map((s) => s.term)).toEqual([String(term + 1), String(term + 2)]);
  });

  it('fences its candidate when promote failed after asking PostgreSQL to promote: the promotion may still complete there', async () => {
    const { id } = await crashedCluster();
    script = (doc) => (doc === 'pgvigil-Promote' ? { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 8, StandardErrorContent: 'ERROR: promotion did not complete within 1 seconds' } : { Status: 'Success', ResponseCode: 0 });
    const first = await evaluateCluster(deps((a) => a.action !== 'promote'), invocation(), id);
    expect(first.saga).toBe('cooldown');
    const aborted = await f.store.listEvents(id, { event: 'repmgrd_failover_aborted' });
    expect(aborted[0]?.details).toMatch(/promote on node 2 failed: .*promotion did not complete within 1 seconds; the promotion may still complete there/);
    // Fence of the old primary first, then of the candidate after the promote.
    const docs = sent.map((x) => `${x.document.replace('pgvigil-', '')}:${x.nodeId}`);
    expect(docs.slice(docs.indexOf('Promote:2'))).toContain('Fence:2');
  });

  it('goes on to verify from the heartbeat when promote times out, and completes when the node did promote', async () => {
    const { id, term } = await crashedCluster();
    script = (doc) => (doc === 'pgvigil-Promote' ? { Status: 'InProgress' } : { Status: 'Success', ResponseCode: 0 });
    const result = await evaluateCluster(deps(), invocation(), id);
    expect(result.saga).toBe('completed');
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ term: term + 1, primary_node_id: 2 });
  });

  it('aborts when promote times out and the candidate never reports itself promoted', async () => {
    const { id, term } = await crashedCluster();
    script = (doc) => (doc === 'pgvigil-Promote' ? { Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut' } : { Status: 'Success', ResponseCode: 0 });
    const result = await evaluateCluster(deps((a) => a.action !== 'promote'), invocation(), id);
    expect(result.saga).toBe('cooldown');
    const aborted = await f.store.listEvents(id, { event: 'repmgrd_failover_aborted' });
    expect(aborted[0]?.details).toMatch(/node 2 did not report itself promoted .* within promote_check_timeout=1s/);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ term: term + 1, primary_node_id: 1 });
  });

  it('retries a throttled SendCommand and completes the failover', async () => {
    const { id } = await crashedCluster();
    script = (doc) => (doc === 'pgvigil-Promote' ? 'throttle' : { Status: 'Success', ResponseCode: 0 });
    const result = await evaluateCluster(deps(), invocation(), id);
    expect(result.saga).toBe('completed');
    expect(sent.map((s) => s.document)).toEqual(['pgvigil-Fence', 'throttled:pgvigil-Promote', 'pgvigil-Promote', 'pgvigil-Follow']);
  });

  it('with fence_mode=ssm-only proceeds on the lease when the fence is not confirmed, and records the fence as unconfirmed', async () => {
    const { id } = await crashedCluster({ fence_mode: 'ssm-only' });
    script = (doc) => (doc === 'pgvigil-Fence' ? { Status: 'Failed', StatusDetails: 'Undeliverable' } : { Status: 'Success', ResponseCode: 0 });
    const result = await evaluateCluster(deps(), invocation(), id);
    expect(result.saga).toBe('completed');
    const fence = await f.store.listEvents(id, { event: 'fence_applied' });
    expect(fence[0]).toMatchObject({ node_id: 1, successful: false });
    expect(fence[0]?.details).toMatch(/SSM did not confirm the fence \(SSM status Undeliverable.*fence_mode=ssm-only/);
  });

  it('records a follow that failed as an unsuccessful repmgrd_failover_follow and still completes', async () => {
    const { id } = await crashedCluster();
    script = (doc) => (doc === 'pgvigil-Follow' ? { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 23, StandardErrorContent: 'ERROR: unable to follow' } : { Status: 'Success', ResponseCode: 0 });
    const result = await evaluateCluster(deps(), invocation(), id);
    expect(result.saga).toBe('completed');
    const follow = await f.store.listEvents(id, { event: 'repmgrd_failover_follow' });
    expect(follow[0]).toMatchObject({ node_id: 3, successful: false });
    expect(follow[0]?.details).toMatch(/exit code 23: ERROR: unable to follow/);
    expect((await f.store.load(id))?.snapshot.nodes.find((n) => n.node_id === 3)?.upstream_node_id).toBe(1);
  });
});

describe('SSM failures during a switchover', () => {
  it('rolls back when demote fails: nothing promoted, the old primary restarted, the cluster unpaused, and the event says why', async () => {
    counter += 1;
    const id = `ssm-${counter}`;
    const built = new SnapshotBuilder({ now: f.clock.now() }).build();
    await f.seed({
      cluster: { ...built.cluster, cluster_id: id },
      nodes: built.nodes.map((n) => ({ ...n, cluster_id: id })),
      heartbeats: built.heartbeats.map((h) => ({ ...h, cluster_id: id })),
    });
    script = (doc) => (doc === 'pgvigil-Demote' ? { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 5, StandardErrorContent: 'ERROR: checkpoint failed' } : { Status: 'Success', ResponseCode: 0 });
    const r = await switchoverEntry(deps((a) => a.action !== 'demote'), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r.ok).toBe(false);
    expect(sent.map((s) => `${s.document}:${s.nodeId}`)).toEqual(['pgvigil-Demote:1', 'pgvigil-Unfence:1']);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ primary_node_id: 1, paused: false, operation: null });
    const rolledBack = await f.store.listEvents(id, { event: 'switchover_rolled_back' });
    expect(rolledBack[0]?.details).toMatch(/demote of node 1 failed: SSM status Failed, exit code 5: ERROR: checkpoint failed/);
  });

  it('ends as incomplete, without rolling back, when the promotion is never confirmed', async () => {
    counter += 1;
    const id = `ssm-${counter}`;
    const built = new SnapshotBuilder({ now: f.clock.now() }).settings({ promote_check_timeout: 1 }).build();
    await f.seed({
      cluster: { ...built.cluster, cluster_id: id },
      nodes: built.nodes.map((n) => ({ ...n, cluster_id: id })),
      heartbeats: built.heartbeats.map((h) => ({ ...h, cluster_id: id })),
    });
    const r = await switchoverEntry(deps((a) => a.action !== 'promote'), invocation(), parseSwitchoverRequest({ cluster_id: id, candidate_node_id: 2 }));
    expect(r.ok).toBe(false);
    expect(sent.map((s) => `${s.document}:${s.nodeId}`)).toEqual(['pgvigil-Demote:1', 'pgvigil-Promote:2']);
    expect((await f.store.load(id))?.snapshot.cluster).toMatchObject({ primary_node_id: 1, paused: false, operation: null });
    const outcome = await f.store.listEvents(id, { event: 'standby_switchover' });
    expect(outcome[0]).toMatchObject({ successful: false });
    expect(outcome[0]?.details).toMatch(/switchover incomplete: node 2 did not report itself promoted/);
  });
});
