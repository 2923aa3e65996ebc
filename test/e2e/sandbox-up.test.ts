/**
 * `npm start` as a user runs it: the built CLI's `sandbox up` in the foreground, as its own
 * process. Its output is held to what README.md says it prints, the cluster it brings up is
 * checked in DynamoDB and through the VIP, and Ctrl-C must tear everything down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import { DEFAULT_SANDBOX_DIR } from '../../cli/local-sandbox.js';
import { query } from '../../sandbox/drills/heal.js';
import { readSandboxState, sandboxDown, type SandboxState } from '../../sandbox/index.js';
import { readNetworkState, run } from '../../sandbox/netns.js';
import { freePort } from '../../sandbox/ports.js';
import { procStartTime } from '../../sandbox/supervisor.js';
import type { PgTarget } from '../../sandbox/writers.js';

let parent: string;
let dir: string;
let outputFile: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let state: SandboxState;
let store: DynamoStateStore;
let dynamo: DynamoDBClient;
let vip: PgTarget;

/** Everything `sandbox up` printed so far, stdout and stderr in the order written (one file). */
const output = (): string => readFileSync(outputFile, 'utf8');

/** What a failed wait reports: the output's tail, the last events and the controller's last lines. */
async function diagnostics(): Promise<string> {
  const events = store ? (await store.listEvents('main').catch(() => [])).slice(-12).map((e) => `  ${e.node_id} ${e.event} ${e.successful}: ${e.details}`) : [];
  const controllerLog = join(dir, 'logs', 'root.controller.log');
  const controller = existsSync(controllerLog) ? readFileSync(controllerLog, 'utf8').split('\n').slice(-6).join('\n') : '';
  return ['sandbox up printed:', output().split('\n').slice(-40).join('\n'), 'events:', ...events, 'controller log:', controller].join('\n');
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms\n${await diagnostics()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** README.md's sample of what `npm start` prints: the `text` block after the sentence that introduces it. */
function readmeSample(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const intro = readme.indexOf('What `npm start`\nprints');
  const block = /```text\n([\s\S]*?)```/.exec(readme.slice(intro));
  if (intro < 0 || !block?.[1]) throw new Error('README.md has no sample of what `npm start` prints');
  return block[1].split('\n');
}

/**
 * A sample line as a pattern for an output line: `…` stands for anything, numbers for any number
 * (ports, addresses, ids and times vary), runs of spaces for any run of spaces.
 */
function linePattern(line: string): RegExp {
  const part = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+');
  return new RegExp(`^${line.trim().replace(/\s+/g, ' ').split('…').map(part).join('.*')}$`);
}

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-e2e-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  dir = join(parent, 'sandbox');
  outputFile = join(parent, 'sandbox-up.out');
  const fd = openSync(outputFile, 'w');
  child = spawn(process.execPath, [builtArtifact(ARTIFACTS.cli), 'sandbox', 'up', '--dir', dir, '--vip-port', String(await freePort())], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  // Up, announced, and the first events printed (the poller runs every second).
  await until(
    'sandbox up printing events',
    () => {
      if (child.exitCode !== null) throw new Error(`sandbox up exited with ${child.exitCode}:\n${output()}`);
      const printed = output();
      const events = printed.indexOf('events as they happen');
      return events >= 0 && printed.includes('primary_register', events);
    },
    540_000,
  );
  state = readSandboxState(dir) as SandboxState;
  dynamo = new DynamoDBClient({ endpoint: state.motoEndpoint as string, region: state.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  store = new DynamoStateStore(dynamo, state.tableName as string);
  vip = { host: '127.0.0.1', port: state.vip.port };
});

afterAll(async () => {
  dynamo?.destroy();
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 120_000))]);
  }
  // Whatever Ctrl-C left behind (it should be nothing): the same clean-up `sandbox down` does.
  if (dir && existsSync(dir)) await sandboxDown(dir);
  if (parent) rmSync(parent, { recursive: true, force: true });
});

describe('npm start (pgvigil sandbox up)', () => {
  it("prints what the README says it prints: a line per stage, the export line, cluster show, then the events", () => {
    // The README shows the default directory; this run has its own.
    const printed = output().replaceAll(dir, DEFAULT_SANDBOX_DIR).split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    let at = 0;
    for (const line of readmeSample()) {
      if (line.trim() === '' || line.trim() === '…') continue;
      const pattern = linePattern(line);
      const found = printed.findIndex((p, i) => i >= at && pattern.test(p));
      expect(found, `README line not printed (in this order): "${line}"\nprinted after the previous README line:\n${printed.slice(at).join('\n')}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  it('brings up a registered cluster replicating synchronously (ANY 1) behind the VIP, with every agent reporting', async () => {
    await until('heartbeats from all four agents', async () => ((await store.load('main'))?.snapshot.heartbeats.length ?? 0) === 4, 30_000);
    const loaded = await store.load('main');
    expect(loaded?.snapshot.cluster).toMatchObject({ term: 1, primary_node_id: 1 });
    expect(loaded?.snapshot.nodes.map((n) => [n.node_name, n.type, n.location]).sort()).toEqual([
      ['node1', 'primary', 'az-a'],
      ['node2', 'standby', 'az-b'],
      ['node3', 'standby', 'az-c'],
      ['witness', 'witness', 'az-c'],
    ]);
    const node1 = readNetworkState(dir)?.hosts.find((h) => h.name === 'node1');
    const [server] = await query<{ addr: string; recovery: boolean }>(vip, 'SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS recovery', 3000);
    expect(server).toEqual({ addr: node1?.address, recovery: false });
    const standbys = await query<{ application_name: string; sync_state: string }>(vip, 'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1', 3000);
    expect(standbys).toEqual([
      { application_name: 'node2', sync_state: 'quorum' },
      { application_name: 'node3', sync_state: 'quorum' },
    ]);
  });

  it('tears everything down on Ctrl-C: no process, namespace or directory left', async () => {
    const prefix = readNetworkState(dir)?.prefix as string;
    const processes = JSON.parse(readFileSync(join(dir, 'processes.json'), 'utf8')) as { pid: number; startTime: string }[];
    expect(processes.length).toBeGreaterThan(3); // moto and the agents of node2, node3 and the witness
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output()).toContain('NOTICE: sandbox removed');
    expect(existsSync(dir)).toBe(false);
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(prefix);
    expect((await run('ip', ['-o', 'link', 'show'])).stdout).not.toContain(prefix);
    for (const { pid, startTime } of processes) expect(procStartTime(pid)).not.toBe(startTime);
  });
});
