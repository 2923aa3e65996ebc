/**
 * The agent's host actions and heartbeats against real PostgreSQL servers (run as `postgres`)
 * and the DynamoDB state store on a private moto server. One three-node cluster is shared by the
 * whole file; the tests run in order and each leaves the cluster as the next one expects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { jsonLogger } from '../../agent/log.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { compareLsn } from '../../core/lsn.js';
import type { Heartbeat } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, writeNodeConfig, type TestNode } from '../support/agent.js';

const TABLE = 'pgvigil-agent-actions';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let env: NodeJS.ProcessEnv;
let dir: string;
const nodes: TestNode[] = [];
const node = (id: number): TestNode => nodes[id - 1] as TestNode;
const f = (id: number): string[] => ['-f', node(id).configFile];

async function heartbeatOf(id: number): Promise<Heartbeat | undefined> {
  const loaded = await store.load('agent-test');
  return loaded?.snapshot.heartbeats.find((h) => h.node_id === id);
}

async function eventsOf(name: string): Promise<Array<[number, boolean]>> {
  return (await store.listEvents('agent-test', { event: name })).map((e) => [e.node_id, e.successful]);
}

async function runDaemons(ids: number[], untilFn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const daemons = ids.map((id) => new AgentDaemon({ config: node(id).config, store, log: jsonLogger({ level: 'ERROR' }) }));
  for (const d of daemons) await d.start();
  try {
    const deadline = Date.now() + timeoutMs;
    while (!(await untilFn())) {
      if (Date.now() > deadline) throw new Error('condition not reached while the agents ran');
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    for (const d of daemons) await d.stop('test done');
  }
}

async function waitFor(fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  dir = await pgs.tempDir('pgvigil-agent-conf-');
  const primary = await pgs.primary('node1');
  const s2 = await pgs.server('node2');
  const s3 = await pgs.server('node3');
  for (const [id, server] of [[1, primary], [2, s2], [3, s3]] as const) {
    const name = `node${id}`;
    // node3 uses replication slots (repmgr_slot_3 on whichever node it streams from).
    const { configFile, config } = await writeNodeConfig(dir, { id, name, server, location: id === 3 ? 'az-b' : 'az-a' }, TABLE, id === 3 ? { use_replication_slots: true } : {});
    nodes.push({ id, name, server, configFile, config });
  }
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('pgvigil-agent host actions', () => {
  it('registers the primary, creating the cluster record at term 1 with no password anywhere', async () => {
    const r = await agent(env, ['primary', 'register', ...f(1)]);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: primary node record (ID: 1) registered');
    const loaded = await store.load('agent-test');
    expect(loaded?.snapshot.cluster).toMatchObject({ term: 1, primary_node_id: 1 });
    expect(loaded?.snapshot.nodes[0]).toMatchObject({ node_id: 1, type: 'primary', upstream_node_id: null, location: 'az-a' });
    expect(loaded?.snapshot.nodes[0]?.conninfo).not.toMatch(/password/);
  });

  it('checks the prerequisites of a clone with --dry-run and changes nothing', async () => {
    const r = await agent(env, ['standby', 'clone', ...f(2), '--dry-run']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain(`NOTICE: destination directory "${node(2).server.dataDir}" provided`);
    expect(r.stderr).toContain('INFO: sufficient walsenders available on the source node');
    expect(r.stderr).toContain('INFO: required number of replication connections could be made to the source server');
    expect(r.stderr).toContain('NOTICE: standby will attach to upstream node 1');
    expect(r.stderr).toContain('HINT: consider using the -c/--fast-checkpoint option');
    expect(r.stderr).toContain('INFO: all prerequisites for "standby clone" are met');
    expect(existsSync(node(2).server.dataDir)).toBe(false);
  });

  it('clones two standbys with pg_basebackup, starts them and registers them', async () => {
    for (const id of [2, 3]) {
      const r = await agent(env, ['standby', 'clone', ...f(id), '-c']);
      expect(r.code, r.text).toBe(0);
      expect(r.stderr).toContain('NOTICE: standby clone (using pg_basebackup) complete');
      await node(id).server.writeConfig();
      await node(id).server.start();
      const reg = await agent(env, ['standby', 'register', ...f(id), '--upstream-node-id', '1']);
      expect(reg.code, reg.text).toBe(0);
      expect(reg.stderr).toContain(`NOTICE: standby node "node${id}" (ID: ${id}) successfully registered`);
    }
    const again = await agent(env, ['standby', 'clone', ...f(2)]);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr.join('\n')).toMatch(/already contains a clone of this cluster/);
    const rows = await node(1).server.query<{ application_name: string; state: string }>('SELECT application_name, state FROM pg_stat_replication ORDER BY 1');
    expect(rows).toEqual([
      { application_name: 'node2', state: 'streaming' },
      { application_name: 'node3', state: 'streaming' },
    ]);
    const slots = await node(1).server.query<{ slot_name: string; active: boolean }>('SELECT slot_name, active FROM pg_replication_slots');
    expect(slots).toEqual([{ slot_name: 'repmgr_slot_3', active: true }]);
    const loaded = await store.load('agent-test');
    expect(loaded?.snapshot.nodes.find((n) => n.node_id === 3)?.slot_name).toBe('repmgr_slot_3');
    expect(loaded?.snapshot.nodes.map((n) => [n.node_id, n.type, n.upstream_node_id])).toEqual([
      [1, 'primary', null],
      [2, 'standby', 1],
      [3, 'standby', 1],
    ]);
  });

  it('reports heartbeats with the right roles, timeline and LSNs, which advance when the primary takes writes', async () => {
    await runDaemons([1, 2, 3], async () => {
      const hbs = await Promise.all([1, 2, 3].map(heartbeatOf));
      return hbs.every((h) => h?.server?.accepting_connections) && (hbs[0]?.server?.replication.length ?? 0) === 2 && hbs.every((h) => h?.reachability.length === 2);
    });
    const [p, s2, s3] = (await Promise.all([1, 2, 3].map(heartbeatOf))) as Heartbeat[];
    expect(p?.server).toMatchObject({ in_recovery: false, timeline: 1, postmaster_running: true, data_directory_writable: true, fenced: false });
    expect(p?.server?.replication.map((r) => [r.application_name, r.sync_state]).sort()).toEqual([
      ['node2', 'async'],
      ['node3', 'async'],
    ]);
    for (const s of [s2, s3]) {
      expect(s?.server).toMatchObject({ in_recovery: true, timeline: 1, wal_receiver_status: 'streaming', wal_receiver_upstream_node_id: 1 });
      expect(s?.server?.system_identifier).toBe(p?.server?.system_identifier);
      expect(s?.reachability.find((r) => r.node_id === 1)?.ok).toBe(true);
    }
    const before = { primary: p?.server?.current_lsn as string, standby: s2?.server?.receive_lsn as string };
    await node(1).server.query('CREATE TABLE heartbeat_writes AS SELECT g AS x FROM generate_series(1, 20000) g');
    await runDaemons([1, 2], async () => {
      const [a, b] = await Promise.all([heartbeatOf(1), heartbeatOf(2)]);
      return compareLsn(a?.server?.current_lsn ?? '0/0', before.primary) > 0 && compareLsn(b?.server?.receive_lsn ?? '0/0', before.standby) > 0;
    });
    const after = await heartbeatOf(1);
    expect(after?.seq).toBeGreaterThan(0);
  });

  it('refuses an action with an outdated --term, records action_refused and changes nothing', async () => {
    const r = await agent(env, ['promote', ...f(2), '--term', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERROR: refusing "promote": term 0 is older than the cluster\'s current term 1');
    const [row] = await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(row?.r).toBe(true);
    const events = await store.listEvents('agent-test', { event: 'action_refused' });
    expect(events.map((e) => [e.node_id, e.successful])).toEqual([[2, false]]);
  });

  it('disconnects a WAL receiver, and fences the primary idempotently', async () => {
    // Both standbys hold the same WAL, then stop receiving.
    const [{ lsn } = { lsn: '' }] = await node(1).server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    for (const id of [2, 3]) {
      await waitFor(async () => (await node(id).server.query<{ ok: boolean }>('SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]?.ok === true);
      const d = await agent(env, ['disconnect-wal-receiver', ...f(id), '--term', '1']);
      expect(d.code, d.text).toBe(0);
      expect(await node(id).server.query('SELECT 1 FROM pg_stat_wal_receiver')).toEqual([]);
    }
    // node1 takes writes node2 never receives: their histories will diverge.
    await node(1).server.query('CREATE TABLE diverged AS SELECT g AS x FROM generate_series(1, 1000) g');
    const fenced = await agent(env, ['fence', ...f(1), '--term', '1']);
    expect(fenced.code, fenced.text).toBe(0);
    expect(await node(1).server.isRunning()).toBe(false);
    expect(existsSync(join(node(1).server.dataDir, 'standby.signal'))).toBe(true);
    const again = await agent(env, ['fence', ...f(1), '--term', '1']);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr).toContain('NOTICE: node 1 is already fenced; nothing to do');
    expect((await store.listEvents('agent-test', { event: 'fence_applied' })).length).toBe(1);
  });

  it('promotes a standby onto a new timeline, and a second promote succeeds without another timeline', async () => {
    const loaded = await store.load('agent-test');
    const cluster = loaded?.snapshot.cluster;
    // The controller claims term 2 for node 2 before it sends promote.
    expect((await store.updateCluster('agent-test', cluster?.version ?? 0, { term: 2, primary_node_id: 2 }, Date.now())).ok).toBe(true);
    const r = await agent(env, ['promote', ...f(2), '--term', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: STANDBY PROMOTE successful');
    const tli = async (): Promise<unknown> => (await node(2).server.query<{ t: string }>('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t'))[0]?.t;
    expect(await tli()).toBe('00000002');
    await node(2).server.query('CREATE TABLE after_promote (x int)');
    const again = await agent(env, ['promote', ...f(2), '--term', '2']);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr.join('\n')).toMatch(/is already primary \(timeline 2\); nothing to do/);
    expect(await tli()).toBe('00000002');
    const me = (await store.load('agent-test'))?.snapshot.nodes.find((n) => n.node_id === 2);
    expect(me).toMatchObject({ type: 'primary', upstream_node_id: null });
  });

  it('makes another standby follow the new primary', async () => {
    const r = await agent(env, ['follow', ...f(3), '--upstream-node-id', '2', '--term', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: STANDBY FOLLOW successful');
    const [rx] = await node(3).server.query<{ status: string; sender_port: number }>('SELECT status, sender_port FROM pg_stat_wal_receiver');
    expect(rx).toEqual({ status: 'streaming', sender_port: node(2).server.port });
    await waitFor(async () => (await node(3).server.query("SELECT 1 FROM pg_class WHERE relname = 'after_promote'")).length === 1);
    expect(await node(2).server.query('SELECT slot_name, active FROM pg_replication_slots')).toEqual([{ slot_name: 'repmgr_slot_3', active: true }]);
    const again = await agent(env, ['follow', ...f(3), '--upstream-node-id', '2', '--term', '2']);
    expect(again.code, again.text).toBe(0);
    expect(again.stderr).toContain('NOTICE: node 3 is already streaming from node 2; nothing to do');
  });

  it('reports the new timeline in the heartbeats of the promoted primary and of its follower', async () => {
    await runDaemons([2, 3], async () => {
      const [p, s] = await Promise.all([heartbeatOf(2), heartbeatOf(3)]);
      return p?.server?.in_recovery === false && s?.server?.wal_receiver_upstream_node_id === 2 && p.term === 2;
    });
    const [p, s] = await Promise.all([heartbeatOf(2), heartbeatOf(3)]);
    expect(p?.server).toMatchObject({ in_recovery: false, timeline: 2 });
    expect(s?.server).toMatchObject({ in_recovery: true, timeline: 2, wal_receiver_status: 'streaming' });
  });

  it('keeps a fenced former primary down when the cluster names another primary', async () => {
    const r = await agent(env, ['unfence', ...f(1), '--term', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toMatch(/refusing "unfence": node 2 is the cluster's primary at term 2/);
    expect(await node(1).server.isRunning()).toBe(false);
  });

  it('refuses to rejoin a diverged former primary without --force-rewind, and rewinds it with it', async () => {
    const refused = await agent(env, ['rejoin', ...f(1), '--term', '2']);
    expect(refused.code, refused.text).toBe(24);
    expect(refused.stderr[0]).toMatch(/this node has diverged from upstream node 2/);
    expect(refused.stderr.join('\n')).toContain('HINT: use --force-rewind');
    expect(await node(1).server.isRunning()).toBe(false);
    const r = await agent(env, ['rejoin', ...f(1), '--force-rewind', '--term', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: NODE REJOIN successful');
    const [row] = await node(1).server.query<{ r: boolean; port: number }>('SELECT pg_is_in_recovery() AS r, (SELECT sender_port FROM pg_stat_wal_receiver) AS port');
    expect(row).toEqual({ r: true, port: node(2).server.port });
    expect(await node(1).server.query("SELECT 1 FROM pg_class WHERE relname = 'diverged'")).toEqual([]);
    expect(existsSync(join(node(1).server.dataDir, 'pgvigil.fence'))).toBe(false);
    const me = (await store.load('agent-test'))?.snapshot.nodes.find((n) => n.node_id === 1);
    expect(me).toMatchObject({ type: 'standby', upstream_node_id: 2, fenced: false });
  });

  it("answers repmgr's node checks, single and full, with Nagios output and exit codes", async () => {
    await waitFor(async () => (await node(2).server.query("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'")).length === 2);
    const full = await agent(env, ['node', 'check', ...f(2)]);
    expect(full.code, full.text).toBe(0);
    expect(full.stdout[0]).toBe('Node "node2":');
    expect(full.stdout).toContain('\tServer role: OK (node is primary)');
    expect(full.stdout).toContain('\tDownstream servers: OK (2 of 2 downstream nodes attached)');
    const role = await agent(env, ['node', 'check', ...f(2), '--role', '--nagios']);
    expect(role.stdout).toEqual(['REPMGR_SERVER_ROLE OK: node is primary']);
    const upstream = await agent(env, ['node', 'check', ...f(3), '--upstream', '--csv']);
    // The same rules and wording as `pgvigil node check --node-id 3` (core/node-checks.ts).
    expect(upstream.stdout).toEqual(['"Upstream connection","OK","node ""node3"" (ID: 3) is attached to expected upstream node ""node2"" (ID: 2)"']);
    const lag = await agent(env, ['node', 'check', ...f(3), '--replication-lag', '--nagios']);
    expect([lag.code, lag.stdout[0]]).toEqual([0, expect.stringMatching(/^REPMGR_REPLICATION_LAG OK: \d+ seconds \| lag=\d+;\d+;\d+$/)]);
    const writable = await agent(env, ['node', 'check', ...f(3), '--data-directory-writable']);
    expect([writable.code, writable.stdout]).toEqual([0, ['OK (the data directory is writable)']]);
    const status = await agent(env, ['node', 'status', ...f(3), '--csv']);
    expect(status.code, status.text).toBe(0);
    expect(status.stdout).toContain('"Role","standby"');
    expect(status.stdout).toContain('"Upstream node","node2 (ID: 2)"');
  });

  it('disconnects and reconnects a WAL receiver', async () => {
    expect((await agent(env, ['disconnect-wal-receiver', ...f(3), '--term', '2'])).code).toBe(0);
    expect(await node(3).server.query('SELECT 1 FROM pg_stat_wal_receiver')).toEqual([]);
    const upstream = await agent(env, ['node', 'check', ...f(3), '--upstream', '--nagios']);
    expect(upstream.code).toBe(2);
    expect(upstream.stdout[0]).toMatch(/^REPMGR_UPSTREAM_SERVER CRITICAL: /);
    const r = await agent(env, ['reconnect-wal-receiver', ...f(3), '--term', '2']);
    expect(r.code, r.text).toBe(0);
    const [rx] = await node(3).server.query<{ status: string; sender_port: number }>('SELECT status, sender_port FROM pg_stat_wal_receiver');
    expect(rx).toEqual({ status: 'streaming', sender_port: node(2).server.port });
  });

  it('demotes the primary with a clean shutdown and its final LSN, and unfences it as primary again', async () => {
    const r = await agent(env, ['demote', ...f(2), '--term', '2']);
    expect(r.code, r.text).toBe(0);
    const lsn = /^final_lsn=(\S+)$/.exec(r.stdout[0] ?? '')?.[1];
    expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await node(2).server.isRunning()).toBe(false);
    const again = await agent(env, ['demote', ...f(2), '--term', '2']);
    expect(again.code, again.text).toBe(0);
    expect(again.stdout[0]).toBe(`final_lsn=${lsn}`);
    // The standby received everything up to the shutdown checkpoint.
    await waitFor(async () => {
      const [row] = await node(3).server.query<{ lsn: string }>('SELECT pg_last_wal_receive_lsn()::text AS lsn');
      return compareLsn(row?.lsn ?? '0/0', lsn as string) > 0;
    });
    const u = await agent(env, ['unfence', ...f(2), '--term', '2']);
    expect(u.code, u.text).toBe(0);
    const [row] = await node(2).server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(row?.r).toBe(false);
  });
});

describe('pgvigil-agent witness and unregister', () => {
  it('registers a witness (no PostgreSQL needed) upstream of the primary, and unregisters it idempotently', async () => {
    const { configFile } = await writeNodeConfig(dir, { id: 4, name: 'witness4', server: { ...node(3).server, dataDir: join(dir, 'no-pg-here') } as never, location: 'az-c' }, TABLE);
    const r = await agent(env, ['witness', 'register', '-f', configFile]);
    expect(r.code, r.text).toBe(0);
    expect(r.stderr).toContain('NOTICE: witness node "witness4" (ID: 4) successfully registered');
    const w = (await store.load('agent-test'))?.snapshot.nodes.find((n) => n.node_id === 4);
    expect(w).toMatchObject({ type: 'witness', upstream_node_id: 2, location: 'az-c', slot_name: null });
    const wrongType = await agent(env, ['standby', 'unregister', '-f', configFile]);
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr[0]).toBe('ERROR: node 4 is registered as a witness, not a standby');
    expect((await agent(env, ['witness', 'unregister', '-f', configFile])).code).toBe(0);
    const again = await agent(env, ['witness', 'unregister', '-f', configFile]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('NOTICE: node 4 is not registered; nothing to do');
    expect((await eventsOf('witness_register')).length).toBe(1);
    expect((await eventsOf('witness_unregister')).length).toBe(1);
  });

  it('refuses to unregister the current primary without --force', async () => {
    const r = await agent(env, ['primary', 'unregister', ...f(2)]);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toBe("ERROR: node 2 is the cluster's current primary");
    expect((await store.load('agent-test'))?.snapshot.nodes.some((n) => n.node_id === 2)).toBe(true);
  });
});

describe('pgvigil-agent errors', () => {
  it('reports a bad configuration with file, line and key, and exits 1', async () => {
    const { writeFile } = await import('node:fs/promises');
    const file = join(dir, 'bad.conf');
    await writeFile(file, "node_id=abc\nnode_name='x'\nconninfo='host=127.0.0.1'\n");
    const r = await agent(env, ['node', 'status', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toMatch(new RegExp(`^ERROR: ${file}:1: "node_id": expected an integer.*, got "abc"$`));
    expect(r.stderr[1]).toMatch(new RegExp(`^ERROR: ${file}: "data_directory": required key is missing`));
  });

  it('reports a missing data directory and exits 1 without touching anything', async () => {
    const { configFile } = await writeNodeConfig(dir, { id: 9, name: 'ghost', server: { ...node(3).server, dataDir: '/nonexistent/pgdata' } as never }, TABLE);
    const r = await agent(env, ['promote', '-f', configFile]);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toBe('ERROR: data directory "/nonexistent/pgdata" does not exist');
  });

  it('reports an unreachable server with exit code 6 (ERR_DB_CONN)', async () => {
    const { configFile } = await writeNodeConfig(dir, { id: 8, name: 'down', server: { ...node(3).server, port: 1, binDir: node(3).server.binDir, dataDir: node(3).server.dataDir } as never }, TABLE);
    const r = await agent(env, ['node', 'status', '-f', configFile]);
    expect(r.code).toBe(6);
    expect(r.stderr[0]).toBe('ERROR: connection to database failed');
    expect(r.stderr.join('\n')).toContain('connection string is: host=127.0.0.1 port=1');
  });
});
