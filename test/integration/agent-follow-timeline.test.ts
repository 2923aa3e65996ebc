/**
 * `follow` after a failover succeeds only once the standby streams from the new primary on the new
 * primary's timeline (docs/agent.md, "follow"), not at the first "streaming" its WAL receiver
 * reads. node2, reached through a proxy that can stall a replication connection once it has started
 * streaming, becomes the new primary on timeline 2. node4 is behind node2's fork: a receiver that
 * streams timeline 1 from node2 and gets nothing more has not followed. node3 received WAL past
 * the fork: its receiver connects, reads "streaming", and is refused every few seconds (timeline 2
 * is not a child of its history); follow fails saying what it saw, and `rejoin --force-rewind`
 * brings it over. Real PostgreSQL servers run as `postgres`, moto for DynamoDB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig, type TestNode } from '../support/agent.js';
import { ReplicationStallProxy } from '../support/replication-stall-proxy.js';

const TABLE = 'pgvigil-agent-follow-timeline';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let proxy: ReplicationStallProxy;
const nodes: TestNode[] = [];
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const f = (id: number): string[] => ['-f', node(id).configFile];

async function waitFor(fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function receiver(id: number): Promise<{ status: string; received_tli: number; sender_port: number | null } | undefined> {
  return (await node(id).server.query<{ status: string; received_tli: number; sender_port: number | null }>('SELECT status, received_tli, sender_port FROM pg_stat_wal_receiver'))[0];
}

async function currentLsn(): Promise<string> {
  return (await node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]?.lsn ?? '';
}

async function waitReceived(id: number, lsn: string): Promise<void> {
  await waitFor(async () => (await node(id).server.query<{ ok: boolean }>('SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]?.ok === true);
}

async function follow(id: number): Promise<Awaited<ReturnType<typeof agent>>> {
  return agent(env, ['follow', ...f(id), '--upstream-node-id', '2', '--term', '2']);
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  const dir = await pgs.tempDir('pgvigil-follow-timeline-');
  const servers = [await pgs.primary('node1'), await pgs.server('node2'), await pgs.server('node3'), await pgs.server('node4')];
  proxy = await ReplicationStallProxy.start({ host: '127.0.0.1', port: servers[1]?.port ?? 0 });
  for (const [i, server] of servers.entries()) {
    const id = i + 1;
    // Everyone reaches node2 through the proxy; a short follow timeout, which a failing follow waits out.
    const extra = { primary_follow_timeout: 15, ...(id === 2 ? { conninfo: `host=127.0.0.1 port=${proxy.port} user=postgres dbname=postgres connect_timeout=5` } : {}) };
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `node${id}`, server }, TABLE, extra);
    nodes.push({ id, name: `node${id}`, server, configFile, config });
  }
  expect((await agent(env, ['primary', 'register', ...f(1)])).code).toBe(0);
  for (const id of [2, 3, 4]) {
    const clone = await agent(env, ['standby', 'clone', ...f(id), '-c']);
    expect(clone.code, clone.text).toBe(0);
    await node(id).server.writeConfig();
    await node(id).server.start();
    expect((await agent(env, ['standby', 'register', ...f(id)])).code).toBe(0);
  }
  // node4 stops receiving first, then node2 (which node1 then fails over to), then node3 receives
  // more: node4 is behind node2's fork, node3 past it.
  const disconnect = async (id: number): Promise<void> => {
    await waitReceived(id, await currentLsn());
    expect((await agent(env, ['disconnect-wal-receiver', ...f(id), '--term', '1'])).code).toBe(0);
  };
  await disconnect(4);
  await node(1).server.query('CREATE TABLE before_the_fork AS SELECT g AS x FROM generate_series(1, 1000) g');
  await disconnect(2);
  await node(1).server.query('CREATE TABLE past_the_fork AS SELECT g AS x FROM generate_series(1, 1000) g');
  await waitReceived(3, await currentLsn());
  await node(1).server.stop('fast');
  const cluster = (await store.load('agent-test'))?.snapshot.cluster;
  expect((await store.updateCluster('agent-test', cluster?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);
  const promoted = await agent(env, ['promote', ...f(2), '--term', '2']);
  expect(promoted.code, promoted.text).toBe(0);
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await pgs.cleanup();
  await moto?.stop();
});

describe('follow onto a new timeline', () => {
  it('fails while the WAL receiver streams the old timeline from the new primary and gets nothing more, and succeeds once WAL flows', async () => {
    proxy.arm();
    try {
      const r = await follow(4);
      expect(r.code, r.text).toBe(23);
      expect(r.stderr).toContain('ERROR: node 4 did not follow node 2 within primary_follow_timeout (15 s): its WAL receiver streams from node 2 on timeline 1, and node 2 is on timeline 2');
      expect(proxy.stalls).toBeGreaterThan(0);
      expect(await receiver(4)).toMatchObject({ status: 'streaming', received_tli: 1, sender_port: proxy.port });
    } finally {
      proxy.release();
    }
    await waitFor(async () => (await receiver(4))?.received_tli === 2);
    const again = await follow(4);
    expect(again.code, again.text).toBe(0);
    expect(await node(4).server.query("SELECT 1 FROM pg_class WHERE relname IN ('before_the_fork', 'past_the_fork')")).toEqual([{ '?column?': 1 }]);
    expect((await store.listEvents('agent-test', { event: 'standby_follow' })).map((e) => [e.node_id, e.successful])).toEqual([[4, false], [4, true]]);
  });

  it('fails, saying what it saw, for a standby that received WAL past the fork of the new primary', async () => {
    const r = await follow(3);
    expect(r.code, r.text).toBe(23);
    expect(r.stderr.join('\n')).toMatch(/^ERROR: node 3 did not follow node 2 within primary_follow_timeout \(15 s\): (no WAL receiver is running|its WAL receiver .*)$/m);
    expect((await store.load('agent-test'))?.snapshot.nodes.find((n) => n.node_id === 3)).toMatchObject({ upstream_node_id: 1 });
  });

  it('rejoins that standby with --force-rewind, and reports it only once it streams timeline 2', async () => {
    // Meanwhile something tries to start the server (systemd after a crash, an operator): its boot
    // guard is refused while the rejoin works on the stopped data directory (start-block.ts).
    let rejoining = true;
    const guards: number[] = [];
    const starts = (async () => {
      while (rejoining) {
        guards.push((await agent(env, ['node', 'startup', ...f(3)])).code);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const r = await agent(env, ['rejoin', ...f(3), '--force-rewind', '--term', '2']).finally(() => (rejoining = false));
    await starts;
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: NODE REJOIN successful');
    expect(guards).toContain(4);
    expect(await receiver(3)).toEqual({ status: 'streaming', received_tli: 2, sender_port: proxy.port });
    expect(await node(3).server.query("SELECT 1 FROM pg_class WHERE relname = 'past_the_fork'")).toEqual([]);
    const again = await follow(3);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr).toContain('NOTICE: node 3 is already streaming from node 2; nothing to do');
  });

  it("leaves a standby streaming from the upstream running when the upstream's timeline cannot be read: a stop could not be undone without it", async () => {
    expect(await receiver(4)).toMatchObject({ status: 'streaming', received_tli: 2, sender_port: proxy.port });
    const startedAt = async (): Promise<string | undefined> => (await node(4).server.query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t'))[0]?.t;
    const started = await startedAt();
    proxy.refuseNew = true;
    try {
      const r = await agent(env, ['rejoin', ...f(4), '--term', '2']);
      expect(r.code, r.text).toBe(24);
      expect(r.stderr.join('\n')).toMatch(/ERROR: node 4 is running and its WAL receiver streams from node 2, whose timeline could not be read: .*; leaving the running standby alone/);
    } finally {
      proxy.refuseNew = false;
    }
    expect(await startedAt()).toBe(started);
    expect(await receiver(4)).toMatchObject({ status: 'streaming', received_tli: 2 });
  });
});
