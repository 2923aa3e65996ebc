/**
 * The agent daemon against real servers and DynamoDB on moto: heartbeats on change with the
 * attention flag, local and upstream disconnect/reconnect events, monitoring history, and the
 * built `pgvigil-agent run` process (dist/) under a systemd-style notify socket with a clean
 * SIGTERM shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { AgentDaemon } from '../../agent/daemon/daemon.js';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import { jsonLogger } from '../../agent/log.js';
import type { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { keys } from '../../core/table.js';
import type { Heartbeat } from '../../core/model.js';
import { startMoto, type Moto } from '../support/moto.js';
import { TestPostgres } from '../support/postgres.js';
import { agent, createTable, motoEnv, waitFor as waitForCondition, writeNodeConfig, type TestNode } from '../support/agent.js';

const TABLE = 'pgvigil-agent-daemon';
const pgs = new TestPostgres();
let moto: Moto;
let store: DynamoStateStore;
let raw: DynamoDBClient;
let env: NodeJS.ProcessEnv;
let dir: string;
const nodes: TestNode[] = [];
const node = (id: number): TestNode => nodes[id - 1] as TestNode;

async function rawHeartbeat(id: number): Promise<(Heartbeat & { attention: boolean }) | undefined> {
  const r = await raw.send(new GetItemCommand({ TableName: TABLE, Key: marshall({ pk: keys.partition('agent-test'), sk: keys.heartbeat(id) }), ConsistentRead: true }));
  return r.Item ? (unmarshall(r.Item) as Heartbeat & { attention: boolean }) : undefined;
}

const waitFor = (fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => waitForCondition(fn, timeoutMs, 200);

/** Idle sessions the agents opened on a node's server (application_name "pgvigil"). */
async function idleAgentSessions(target: TestNode): Promise<number> {
  const rows = await target.server.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'pgvigil' AND state = 'idle' AND pid <> pg_backend_pid()");
  return Number(rows[0]?.n ?? 0);
}

async function eventsOf(name: string): Promise<Array<[number, boolean]>> {
  return (await store.listEvents('agent-test', { event: name })).map((e) => [e.node_id, e.successful]);
}

beforeAll(async () => {
  moto = await startMoto();
  env = motoEnv(moto);
  store = await createTable(moto, TABLE);
  raw = new DynamoDBClient(moto.clientConfig);
  dir = await pgs.tempDir('pgvigil-daemon-conf-');
  const primary = await pgs.primary('d1');
  const standby = await pgs.server('d2');
  for (const [id, server] of [[1, primary], [2, standby]] as const) {
    const { configFile, config } = await writeNodeConfig(dir, { id, name: `d${id}`, server }, TABLE, { heartbeat_interval_secs: 10, monitoring_history: id === 2 });
    nodes.push({ id, name: `d${id}`, server, configFile, config });
  }
  expect((await agent(env, ['primary', 'register', '-f', node(1).configFile])).code).toBe(0);
  expect((await agent(env, ['standby', 'clone', '-f', node(2).configFile, '-c'])).code).toBe(0);
  await standby.writeConfig();
  await standby.start();
  expect((await agent(env, ['standby', 'register', '-f', node(2).configFile])).code).toBe(0);
});

afterAll(async () => {
  await pgs.cleanup();
  await moto?.stop();
});

describe('AgentDaemon', () => {
  it('writes at once when the local server crashes or its upstream becomes unreachable, flags attention, and records repmgrd events', async () => {
    const daemons = [1, 2].map((id) => new AgentDaemon({ config: node(id).config, store, log: jsonLogger({ level: 'ERROR' }) }));
    for (const d of daemons) await d.start();
    try {
      await waitFor(async () => (await rawHeartbeat(2))?.reachability.some((r) => r.node_id === 1 && r.ok) === true);
      // Healthy: nothing in either heartbeat can change a decision.
      await waitFor(async () => (await rawHeartbeat(1))?.attention === false && (await rawHeartbeat(2))?.attention === false);
      const healthy = await rawHeartbeat(1);
      const before = healthy?.seq ?? 0;

      await node(1).server.kill9();
      // heartbeat_interval_secs is 10: these writes come from the change, not the interval.
      await waitFor(async () => {
        const [p, s] = await Promise.all([rawHeartbeat(1), rawHeartbeat(2)]);
        return p?.server?.postmaster_running === false && s?.reachability.find((r) => r.node_id === 1)?.ok === false;
      }, 15_000);
      const p = await rawHeartbeat(1);
      expect(p?.attention).toBe(true);
      expect(p?.seq).toBeGreaterThan(before);
      expect(p?.server).toMatchObject({ postmaster_running: false, accepting_connections: false, in_recovery: null });
      expect(p?.server?.down_since).toBeGreaterThan(0);
      // What the controller compares candidates against survives the crash.
      expect(p?.server?.system_identifier).toBe(healthy?.server?.system_identifier);
      expect(p?.server?.system_identifier).toMatch(/^\d+$/);
      expect(p?.server?.timeline).toBe(healthy?.server?.timeline);
      expect(p?.server?.current_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      const s = await rawHeartbeat(2);
      expect(s?.attention).toBe(true);
      expect(s?.reachability.find((r) => r.node_id === 1)).toMatchObject({ ok: false, failures: expect.any(Number) as number });
      await waitFor(async () => (await eventsOf('repmgrd_local_disconnect')).length > 0 && (await eventsOf('repmgrd_upstream_disconnect')).length > 0);
      expect(await eventsOf('repmgrd_local_disconnect')).toEqual([[1, false]]);
      expect(await eventsOf('repmgrd_upstream_disconnect')).toEqual([[2, false]]);

      await node(1).server.start();
      await waitFor(async () => (await eventsOf('repmgrd_local_reconnect')).length > 0 && (await eventsOf('repmgrd_upstream_reconnect')).length > 0);
      expect(await eventsOf('repmgrd_local_reconnect')).toEqual([[1, true]]);
      await waitFor(async () => (await rawHeartbeat(1))?.attention === false);
    } finally {
      for (const d of daemons) await d.stop('test');
    }
    expect((await eventsOf('agent_start')).length).toBe(2);
    expect((await eventsOf('agent_stop')).length).toBe(2);
  });

  it('reports a crash of its local server at once, long before the next monitoring interval (an idle session to the server wakes it)', async () => {
    // Ticks every 15 s (lease 60 s): only the loss of its idle session to the server can make it report sooner.
    const d = new AgentDaemon({ config: { ...node(1).config, monitor_interval_secs: 15, lease_secs: 60 }, store, log: jsonLogger({ level: 'ERROR' }) });
    await d.start();
    try {
      await waitFor(async () => (await rawHeartbeat(1))?.server?.accepting_connections === true);
      await new Promise((r) => setTimeout(r, 500)); // the idle session is open by now
      const killedAt = Date.now();
      await node(1).server.kill9();
      await waitFor(async () => (await rawHeartbeat(1))?.server?.postmaster_running === false, 5000);
      expect(Date.now() - killedAt).toBeLessThan(5000);
      expect(d.status().fenced).toBe(false);
      expect(d.status().ticks).toBeGreaterThanOrEqual(2);
    } finally {
      await d.stop('test');
      await node(1).server.start();
    }
  });

  it('reports its primary unreachable as soon as the primary crashes, long before its next monitoring interval (an idle session to the primary wakes it)', async () => {
    // Ticks every 30 s (lease 120 s): only the loss of its idle session to the primary can make it check sooner.
    const d = new AgentDaemon({ config: { ...node(2).config, monitor_interval_secs: 30, lease_secs: 120 }, store, log: jsonLogger({ level: 'ERROR' }) });
    await d.start();
    const nextIntervalTick = Date.now() + 30_000;
    try {
      // This daemon's own heartbeat (an earlier test's may still be there) says the primary answers.
      await waitFor(async () => d.status().heartbeatsWritten > 0 && (await rawHeartbeat(2))?.reachability.find((r) => r.node_id === 1)?.ok === true, 10_000);
      // The standby's session to the primary (its own local watch goes to its own server).
      await waitFor(async () => (await idleAgentSessions(node(1))) >= 1, 10_000);
      const ticks = d.status().ticks;
      await node(1).server.kill9();
      await waitFor(async () => (await rawHeartbeat(2))?.reachability.find((r) => r.node_id === 1)?.ok === false, 20_000);
      expect(Date.now()).toBeLessThan(nextIntervalTick);
      expect(d.status().ticks).toBeGreaterThan(ticks);
      expect(await eventsOf('repmgrd_upstream_disconnect')).toContainEqual([2, false]);
    } finally {
      await d.stop('test');
      if (!(await node(1).server.isRunning())) await node(1).server.start();
    }
  });

  it('writes monitoring history samples for a standby when monitoring_history is on', async () => {
    const r = await raw.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :mon)',
        ExpressionAttributeValues: marshall({ ':pk': keys.partition('agent-test'), ':mon': keys.prefix.monitoring }),
      }),
    );
    const samples = (r.Items ?? []).map((i) => unmarshall(i));
    expect(samples.length).toBeGreaterThan(0);
    expect(samples[0]).toMatchObject({ primary_node_id: 1, standby_node_id: 2 });
    expect(samples[0]?.expires_at).toBeGreaterThan(Date.now() / 1000);
  });

  it('switches the primary to asynchronous replication when its synchronous standby is gone, and back once it has caught up', async () => {
    const primary = node(1).server;
    const ssn = async (): Promise<string> => (await primary.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v"))[0]?.v ?? '?';
    await primary.query("ALTER SYSTEM SET synchronous_standby_names = 'd2'");
    await primary.query('SELECT pg_reload_conf()');
    await waitFor(async () => (await primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'd2' AND sync_state = 'sync'")).length === 1);
    const d = new AgentDaemon({ config: { ...node(1).config, sync_downgrade_after_secs: 2 }, store, log: jsonLogger({ level: 'ERROR' }) });
    await d.start();
    try {
      await node(2).server.stop('fast');
      await waitFor(async () => (await ssn()) === '');
      // Commits no longer wait for the missing standby.
      await primary.query("SET statement_timeout = '5s'; CREATE TABLE written_while_async (x int)");
      await waitFor(async () => (await eventsOf('sync_downgraded')).length === 1);
      await node(2).server.start();
      await waitFor(async () => (await ssn()) === 'd2');
      await waitFor(async () => (await eventsOf('sync_restored')).length === 1);
    } finally {
      await d.stop('test');
      await primary.query('ALTER SYSTEM RESET synchronous_standby_names');
      await primary.query('SELECT pg_reload_conf()');
    }
  });

  it('counts a frozen synchronous standby (connected, acknowledging nothing) as gone: commits flow again after sync_downgrade_after_secs', async () => {
    const primary = node(1).server;
    const ssn = async (): Promise<string> => (await primary.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v"))[0]?.v ?? '?';
    await primary.query("ALTER SYSTEM SET synchronous_standby_names = 'd2'");
    await primary.query('SELECT pg_reload_conf()');
    await waitFor(async () => (await primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'd2' AND sync_state = 'sync'")).length === 1);
    const downgrades = (await eventsOf('sync_downgraded')).length;
    const d = new AgentDaemon({ config: { ...node(1).config, sync_downgrade_after_secs: 2 }, store, log: jsonLogger({ level: 'ERROR' }) });
    await d.start();
    // Every process of the standby stops (a hung host): its connection stays up, nothing is acknowledged.
    const postmaster = Number(readFileSync(join(node(2).server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const pids = [postmaster, ...execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)];
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      // This commit waits on the frozen standby until the agent switches to asynchronous replication.
      await primary.query("SET statement_timeout = '60s'; CREATE TABLE written_while_frozen (x int)");
      expect(await ssn()).toBe('');
      expect((await primary.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'd2'")).length).toBe(1);
      await waitFor(async () => (await eventsOf('sync_downgraded')).length === downgrades + 1);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    try {
      await waitFor(async () => (await ssn()) === 'd2');
    } finally {
      await d.stop('test');
      await primary.query('ALTER SYSTEM RESET synchronous_standby_names');
      await primary.query('SELECT pg_reload_conf()');
    }
  });

  it('runs as "pgvigil-agent run" under a notify socket: READY, WATCHDOG, JSON logs, and STOPPING with a clean exit on SIGTERM', async () => {
    const socketPath = join(dir, 'notify.sock');
    const listener = spawn('python3', ['-u', '-c', LISTENER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const messages: string[] = [];
    listener.stdout.on('data', (d: Buffer) => messages.push(...d.toString().split('\n').filter(Boolean)));
    let child: ChildProcess | undefined;
    const stopsBefore = (await eventsOf('agent_stop')).length;
    try {
      await waitFor(async () => messages.includes('listening'), 10_000);
      child = spawn(process.execPath, [builtArtifact(ARTIFACTS.agent), 'run', '-f', node(2).configFile], {
        env: { ...env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '1500000' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
      await waitFor(async () => messages.includes('READY=1') && messages.includes('WATCHDOG=1'), 30_000).catch((error: unknown) => {
        throw new Error(`${String(error)}; notifications: ${messages.join(' ')}; agent stderr: ${stderr.slice(-2000)}`);
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await waitFor(async () => messages.includes('STOPPING=1'), 5000);
      const logLines = stderr.split('\n').filter((l) => l.startsWith('{'));
      expect(logLines.length).toBeGreaterThan(0);
      const parsed = logLines.map((l) => JSON.parse(l) as { level: string; msg: string; node_id: number });
      expect(parsed.map((l) => l.msg)).toContain('agent stopping');
      expect(parsed.every((l) => l.node_id === 2)).toBe(true);
      await waitFor(async () => (await eventsOf('agent_stop')).length === stopsBefore + 1);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      listener.kill('SIGTERM');
    }
  });
});

/** A stand-in for systemd's notify socket: prints every datagram it receives. */
const LISTENER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
print("listening")
while True:
    data = s.recv(4096).decode()
    for line in data.split("\\n"):
        if line: print(line)
`;
