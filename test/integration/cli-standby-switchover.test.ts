import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InvokerFactory, SwitchoverInvoker } from '../../cli/deps.js';
import type { SwitchoverRequest, SwitchoverResponse } from '../../functions/switchover.js';
import { startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer, type CliHarness, type ClusterState } from '../support/cli-cluster.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A healthy three-node cluster stamped with the real clock: the switchover checks judge freshness on it. */
function liveCluster(id: string, overrides: { candidateStreaming?: boolean } = {}): ClusterState {
  const now = Date.now();
  return {
    cluster: clusterRecord(id, { created_at: now - 60_000, updated_at: now - 60_000 }),
    nodes: [nodeRecord(id, 1), nodeRecord(id, 2), nodeRecord(id, 3)],
    heartbeats: [
      heartbeat(id, 1, primaryServer(), { sent_at: now - 1000 }),
      heartbeat(id, 2, standbyServer(1, overrides.candidateStreaming === false ? { wal_receiver_status: null } : {}), { sent_at: now - 1000 }),
      heartbeat(id, 3, standbyServer(1), { sent_at: now - 1000 }),
    ],
  };
}

/** Plays a switchover saga into the store the way the controller records it. */
function scriptedInvoker(script: (request: SwitchoverRequest) => Promise<SwitchoverResponse>): SwitchoverInvoker {
  return { description: 'scripted test saga', invoke: script };
}

describe('pgvigil standby switchover', () => {
  let moto: Moto;
  let h: CliHarness;
  const lambda = mockClient(LambdaClient);

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto);
  });
  afterEach(() => {
    lambda.reset();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** Runs the command on the real clock; `switchover` replaces how it reaches the switchover. */
  async function realNowRun(id: string, argv: string[], env: NodeJS.ProcessEnv = h.env(id), switchover?: InvokerFactory): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
    return h.run(id, argv, { env, clock: () => Date.now(), ...(switchover ? { deps: { switchover } } : {}) });
  }

  it('prints every check with --dry-run and changes nothing (controller entry point in this process)', async () => {
    await h.write(liveCluster('dry'));
    const before = await h.store.load('dry');
    const result = await realNowRun('dry', ['standby', 'switchover', '--candidate', 'node2', '--siblings-follow', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe('NOTICE: checking switchover to node "node2" (ID: 2) in --dry-run mode (in this process)');
    const checks = result.stderr.filter((l) => /^INFO: [a-z_]+: /.test(l)).map((l) => l.split(':')[1]?.trim());
    expect(checks).toEqual(expect.arrayContaining(['no_operation_in_progress', 'primary_running', 'candidate_is_standby', 'candidate_streaming', 'candidate_lag', 'siblings_reporting']));
    expect(result.stderr.at(-1)).toBe('INFO: prerequisites for executing STANDBY SWITCHOVER are met');
    expect(await h.store.load('dry')).toEqual(before);
    expect(await h.store.listEvents('dry')).toEqual([]);
  });

  it('exits 18 (ERR_SWITCHOVER_FAIL) naming the failed check when the candidate is not streaming', async () => {
    await h.write(liveCluster('not-streaming', { candidateStreaming: false }));
    const result = await realNowRun('not-streaming', ['standby', 'switchover', '--candidate', '2', '--dry-run']);
    expect(result.code).toBe(18);
    expect(result.stderr).toContain('ERROR: candidate_streaming: node 2 is not fresh, not in recovery or not streaming from the primary');
  });

  it('refuses a real switchover whose checks fail without changing anything', async () => {
    const before = await h.store.load('not-streaming');
    const result = await realNowRun('not-streaming', ['standby', 'switchover', '--candidate', '2']);
    expect(result.code).toBe(18);
    expect(result.stderr.at(-1)).toMatch(/^ERROR: switchover not possible: candidate_streaming/);
    expect(await h.store.load('not-streaming')).toEqual(before);
  });

  it('follows the saga step by step until it completes (exit 0)', async () => {
    const id = 'followed';
    await h.write(liveCluster(id));
    const switchover: InvokerFactory = () =>
      scriptedInvoker(async (request) => {
        const ev = async (event: 'switchover_started' | 'standby_promote' | 'standby_switchover', details: string): Promise<void> =>
          h.store.appendEvent({ cluster_id: id, node_id: 2, event, successful: true, timestamp: Date.now(), details, term: 2 });
        let version = (await h.store.load(id))!.snapshot.cluster.version;
        const step = async (name: string | null, extra: object = {}): Promise<void> => {
          const operation =
            name === null
              ? null
              : { id: 'op-7', kind: 'switchover' as const, term: 2, candidate_node_id: 2, old_primary_node_id: 1, step: name, owner: 'test', deadline: Date.now() + 60_000, started_at: Date.now(), data: {} };
          expect(await h.store.updateCluster(id, version, { operation, ...extra }, Date.now())).toEqual({ ok: true });
          version++;
        };
        await step('demote_primary', { term: 2, paused: true });
        await ev('switchover_started', 'switchover from node 1 to node 2, term 2');
        await sleep(1200);
        await step('promote');
        await ev('standby_promote', 'node 2 promoted');
        await sleep(1200);
        await step(null, { primary_node_id: 2, paused: false });
        await ev('standby_switchover', 'node 2 is the primary of term 2; node 1 follows it');
        return { cluster_id: id, candidate_node_id: request.candidate_node_id, dry_run: false, ok: true, checks: [], message: 'node 2 is now the primary (term 2)', operation_id: 'op-7', term: 2, outcome: 'completed' };
      });
    const result = await realNowRun(id, ['standby', 'switchover', '--candidate', 'node2'], h.env(id), switchover);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('INFO: switchover step "demote_primary": demoting the primary (clean checkpoint and shutdown, final LSN)');
    expect(result.stderr).toContain('NOTICE: switchover_started (node 2): switchover from node 1 to node 2, term 2');
    expect(result.stderr).toContain('NOTICE: standby_switchover (node 2): node 2 is the primary of term 2; node 1 follows it');
    expect(result.stderr.at(-1)).toBe('NOTICE: STANDBY SWITCHOVER has completed successfully: node "node2" (ID: 2) is the primary (term 2)');
  });

  it('keeps following a saga the entry point handed to the evaluator, and exits 18 when it was rolled back', async () => {
    const id = 'rolled-back';
    await h.write(liveCluster(id));
    const switchover: InvokerFactory = () =>
      scriptedInvoker(async (request) => {
        const version = (await h.store.load(id))!.snapshot.cluster.version;
        const op = { id: 'op-9', kind: 'switchover' as const, term: 2, candidate_node_id: 2, old_primary_node_id: 1, step: 'wait_catchup', owner: 'test', deadline: Date.now() + 60_000, started_at: Date.now(), data: {} };
        await h.store.updateCluster(id, version, { operation: op, term: 2 }, Date.now());
        // The evaluator finishes it later: rollback.
        setTimeout(() => {
          void (async () => {
            await h.store.appendEvent({ cluster_id: id, node_id: 1, event: 'switchover_rolled_back', successful: true, timestamp: Date.now(), details: 'switchover to node 2 rolled back: node 2 did not receive the final LSN', term: 2 });
            await h.store.appendEvent({ cluster_id: id, node_id: 2, event: 'standby_switchover', successful: false, timestamp: Date.now(), details: 'switchover to node 2 failed', term: 2 });
            await h.store.updateCluster(id, version + 1, { operation: null }, Date.now());
          })();
        }, 1500);
        return { cluster_id: id, candidate_node_id: request.candidate_node_id, dry_run: false, ok: false, checks: [], message: 'the switchover continues in the evaluator', operation_id: 'op-9', term: 2, outcome: 'yielded' };
      });
    const result = await realNowRun(id, ['standby', 'switchover', '--candidate', '2', '--json'], h.env(id), switchover);
    expect(result.code).toBe(18);
    expect(result.stderr).toContain('WARNING: standby_switchover (node 2): switchover to node 2 failed');
    expect((JSON.parse(result.stdout.join('\n')) as { outcome: string }).outcome).toBe('rolled_back');
  });

  it('stops following after --wait-timeout with exit 22 (ERR_SWITCHOVER_INCOMPLETE)', async () => {
    const id = 'stuck';
    await h.write(liveCluster(id));
    const switchover: InvokerFactory = () =>
      scriptedInvoker(async (request) => {
        const version = (await h.store.load(id))!.snapshot.cluster.version;
        const op = { id: 'op-1', kind: 'switchover' as const, term: 2, candidate_node_id: 2, old_primary_node_id: 1, step: 'promote', owner: 'test', deadline: Date.now() + 60_000, started_at: Date.now(), data: {} };
        await h.store.updateCluster(id, version, { operation: op }, Date.now());
        return { cluster_id: id, candidate_node_id: request.candidate_node_id, dry_run: false, ok: false, checks: [], message: 'continues', operation_id: 'op-1', term: 2, outcome: 'yielded' };
      });
    const result = await realNowRun(id, ['standby', 'switchover', '--candidate', '2', '--wait-timeout=1'], h.env(id), switchover);
    expect(result.code).toBe(22);
    expect(result.stderr).toContain('WARNING: stopped following after 1 s; the switchover continues in the controller');
  });

  // moto cannot run Lambda functions without Docker: the Lambda client is mocked, DynamoDB is moto.
  it('invokes the deployed switchover function when PGVIGIL_SWITCHOVER_FUNCTION is set', async () => {
    await h.write(liveCluster('via-lambda'));
    const answer: SwitchoverResponse = {
      cluster_id: 'via-lambda',
      candidate_node_id: 3,
      dry_run: true,
      ok: true,
      checks: [{ name: 'primary_running', passed: true, detail: 'node 1 is running and reporting' }],
      message: 'prerequisites for executing STANDBY SWITCHOVER are met',
    };
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answer)) as never });
    const env = { ...h.env('via-lambda'), PGVIGIL_SWITCHOVER_FUNCTION: 'pgvigil-switchover' };
    const result = await realNowRun('via-lambda', ['standby', 'switchover', '--candidate', '3', '--dry-run'], env);
    expect(result.code).toBe(0);
    expect(result.stderr[0]).toBe('NOTICE: checking switchover to node "node3" (ID: 3) in --dry-run mode (Lambda function pgvigil-switchover)');
    const call = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(call?.FunctionName).toBe('pgvigil-switchover');
    expect(JSON.parse(new TextDecoder().decode(call?.Payload as Uint8Array))).toEqual({ cluster_id: 'via-lambda', candidate_node_id: 3, siblings_follow: false, dry_run: true });

    lambda.on(InvokeCommand).resolves({ StatusCode: 200, FunctionError: 'Unhandled', Payload: new TextEncoder().encode('{"errorType":"PgvigilError","errorMessage":"boom"}') as never });
    const failed = await realNowRun('via-lambda', ['standby', 'switchover', '--candidate', '3', '--dry-run'], env);
    expect(failed.code).toBe(18);
    expect(failed.stderr).toContain('ERROR: the switchover function pgvigil-switchover failed');
    expect(failed.stderr).toContain('DETAIL: PgvigilError: boom');
  });

  it('exits 1 for an unknown candidate or a missing --candidate', async () => {
    const unknown = await realNowRun('dry', ['standby', 'switchover', '--candidate', 'node9']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr[0]).toBe('ERROR: no node with name "node9" is registered in cluster "dry"');
    const missing = await realNowRun('dry', ['standby', 'switchover']);
    expect(missing.code).toBe(1);
    expect(missing.stderr[0]).toBe('ERROR: option --candidate is required');
  });
});
