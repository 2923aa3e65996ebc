import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { query } from '../../sandbox/drills/runner.js';
import { Sandbox } from '../../sandbox/index.js';
import { run } from '../../sandbox/netns.js';
import { freePort } from '../../sandbox/ports.js';
import { procStartTime } from '../../sandbox/supervisor.js';
import type { PgTarget } from '../../sandbox/writers.js';

let sandbox: Sandbox;
let store: DynamoStateStore;
let dynamo: DynamoDBClient;
let vip: PgTarget;
const progress: string[] = [];

beforeAll(async () => {
  const parent = mkdtempSync(join(tmpdir(), 'pgv-e2e-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  const dir = join(parent, 'sandbox');
  sandbox = await Sandbox.up({ dir, vipPort: await freePort(), progress: (line) => progress.push(line) });
  vip = { host: '127.0.0.1', port: sandbox.vip?.port as number };
  dynamo = new DynamoDBClient(sandbox.clientConfig);
  store = new DynamoStateStore(dynamo, sandbox.deployment.tableName);
});

afterAll(async () => {
  dynamo?.destroy();
  await sandbox?.down();
  rmSync(join(sandbox?.dir ?? '/nonexistent', '..'), { recursive: true, force: true });
});

/** What a failed wait reports: the VIP target, the last events and the controller's last lines. */
async function diagnostics(): Promise<string> {
  const events = (await store.listEvents('main').catch(() => [])).slice(-12).map((e) => `  ${e.node_id} ${e.event} ${e.successful}: ${e.details}`);
  let controller = '';
  try {
    controller = readFileSync(join(sandbox.supervisor.logDir, 'root.controller.log'), 'utf8').split('\n').slice(-6).join('\n');
  } catch {
    // no log
  }
  return [`VIP target: ${JSON.stringify(sandbox.vip?.target)}`, 'events:', ...events, 'controller log:', controller].join('\n');
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms\n${await diagnostics()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the sandbox', () => {
  it('brings up a registered cluster replicating synchronously (ANY 1) behind the VIP, with every agent reporting', async () => {
    expect(progress.some((l) => l.startsWith('VIP: 127.0.0.1:'))).toBe(true);
    await until('heartbeats from all four agents', async () => ((await store.load('main'))?.snapshot.heartbeats.length ?? 0) === 4, 30_000);
    const loaded = await store.load('main');
    expect(loaded?.snapshot.cluster).toMatchObject({ term: 1, primary_node_id: 1 });
    expect(loaded?.snapshot.nodes.map((n) => [n.node_name, n.type, n.location]).sort()).toEqual([
      ['node1', 'primary', 'az-a'],
      ['node2', 'standby', 'az-b'],
      ['node3', 'standby', 'az-c'],
      ['witness', 'witness', 'az-c'],
    ]);
    const [server] = await query<{ addr: string; recovery: boolean }>(vip, 'SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS recovery', 3000);
    expect(server).toEqual({ addr: sandbox.node('node1').address, recovery: false });
    const standbys = await query<{ application_name: string; sync_state: string }>(vip, 'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1', 3000);
    expect(standbys).toEqual([
      { application_name: 'node2', sync_state: 'quorum' },
      { application_name: 'node3', sync_state: 'quorum' },
    ]);
  });

  it('tears everything down: no process, namespace or directory left', async () => {
    const prefix = sandbox.network.prefix;
    const recorded = sandbox.supervisor.status().flatMap((s) => (s.pid === null ? [] : [{ pid: s.pid, start: procStartTime(s.pid) }]));
    expect(recorded.length).toBeGreaterThan(3); // moto and the agents of node2, node3 and the witness
    await sandbox.down();
    expect(existsSync(sandbox.dir)).toBe(false);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(prefix);
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).not.toContain(prefix);
    for (const { pid, start } of recorded) expect(procStartTime(pid)).not.toBe(start);
  });
});
