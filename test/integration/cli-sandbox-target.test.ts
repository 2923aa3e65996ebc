/**
 * `pgvigil` in a fresh shell next to a running sandbox: with nothing that says where AWS is, the
 * CLI finds the sandbox from its directory (sandbox.json) and says so; without one, a clear error.
 *
 * The sandbox here is its recorded state (the same `SandboxState` shape sandbox/index.ts writes,
 * owned by this test process) in front of a private moto server holding a cluster: bringing up
 * PostgreSQL nodes adds nothing to what the CLI reads (test/e2e/cli-sandbox.test.ts runs the CLI
 * against a whole sandbox).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../../cli/local-sandbox.js';
import type { SandboxState } from '../../sandbox/index.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { cliHarness, clusterRecord, heartbeat, nodeRecord, primaryServer, standbyServer, type CliHarness } from '../support/cli-cluster.js';

const root = mkdtempSync(join(tmpdir(), 'pgvigil-sbx-target-'));
/** A HOME without ~/.aws: nothing there says where AWS is. */
const home = join(root, 'home');
mkdirSync(home);

describe('pgvigil without AWS settings, next to a sandbox', () => {
  let moto: Moto;
  let h: CliHarness;
  let closedPort: number;

  function record(dir: string, overrides: Partial<SandboxState> = {}): void {
    const state: SandboxState = {
      clusterId: 'main',
      mode: 'loopback',
      motoEndpoint: moto.endpoint,
      region: moto.clientConfig.region,
      vip: { host: '127.0.0.1', port: 6432, allocationId: null },
      tableName: h.table,
      documentPrefix: 'pgvigil',
      instances: {},
      dataDirectories: {},
      owner: { pid: process.pid, startTime: processStartTime(process.pid) },
      switchover: { endpoint: `http://127.0.0.1:${closedPort}`, functionName: 'pgvigil-sandbox-switchover' },
      ready: true,
      ...overrides,
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'sandbox.json'), JSON.stringify(state, null, 2));
  }

  /** A fresh shell: only HOME, PATH and where the sandbox is. */
  const shell = (dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: home, PATH: process.env.PATH, PGVIGIL_SANDBOX_DIR: dir, ...extra });

  beforeAll(async () => {
    moto = await startMoto();
    h = await cliHarness(moto, 'pgvigil-sandbox-state');
    closedPort = await freePort();
    for (const id of ['main', 'other']) {
      await h.write({
        cluster: clusterRecord(id),
        nodes: [nodeRecord(id, 1), nodeRecord(id, 2)],
        heartbeats: [heartbeat(id, 1, primaryServer()), heartbeat(id, 2, standbyServer(1))],
      });
    }
  });
  afterAll(async () => {
    await moto?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('uses the running sandbox, its table and its cluster, and says so in a NOTICE on stderr', async () => {
    const dir = join(root, 'running');
    record(dir);
    const result = await h.run('main', ['cluster', 'show', '--csv'], { env: shell(dir) });
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      `NOTICE: no AWS settings given: using the sandbox running in ${dir} (pid ${process.pid}, emulated AWS at ${moto.endpoint}, its cluster "main")`,
    ]);
    expect(result.stdout.map((l) => l.split(',')[0])).toEqual(['1', '2']);
  });

  it('keeps --cluster and PGVIGIL_CLUSTER_ID over the sandbox\'s own cluster', async () => {
    const dir = join(root, 'running');
    const viaEnv = await h.run('main', ['cluster', 'show', '--json'], { env: shell(dir, { PGVIGIL_CLUSTER_ID: 'other' }) });
    const viaOption = await h.run('main', ['cluster', 'show', '--json', '--cluster', 'other'], { env: shell(dir) });
    for (const r of [viaEnv, viaOption]) {
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout.join('\n')) as { cluster_id: string }).cluster_id).toBe('other');
    }
  });

  it("sends standby switchover to the sandbox's switchover function, as the printed export line would", async () => {
    const dir = join(root, 'running');
    const result = await h.run('main', ['standby', 'switchover', '--candidate', '2', '--dry-run'], { env: shell(dir) });
    const text = result.stderr.join('\n');
    // Nothing listens at the recorded endpoint here: the error names it, which shows where the command went.
    expect(text).toContain(`unable to reach the switchover function "pgvigil-sandbox-switchover" at http://127.0.0.1:${closedPort}`);
    expect(result.code).not.toBe(0);
  });

  it('does not look for a sandbox when the environment says where AWS is', async () => {
    const dir = join(root, 'running');
    const result = await h.run('main', ['cluster', 'show', '--csv'], { env: { ...h.env('other'), HOME: home, PGVIGIL_SANDBOX_DIR: dir } });
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([]);
  });

  it('exits 1 naming what it looked for when no sandbox runs and nothing else is given, changing nothing', async () => {
    const dir = join(root, 'none');
    const result = await h.run('main', ['cluster', 'show'], { env: shell(dir) });
    expect(result.code).toBe(1);
    expect(result.stdout).toEqual([]);
    expect(result.stderr[0]).toBe(`ERROR: no AWS settings given and no sandbox running in ${dir}`);
    expect(result.stderr[1]).toMatch(/^DETAIL: no configuration file \(-f, PGVIGIL_CONFIG, .*\) and no AWS_REGION, AWS_ENDPOINT_URL or AWS_PROFILE$/);
    expect(result.stderr[2]).toMatch(/^HINT: for a deployed pgvigil set AWS_REGION .* for the local sandbox run "pgvigil sandbox up"/);
  });

  it('tells a sandbox whose process has ended apart, with the command that cleans it up', async () => {
    const gone = spawnSync('true').pid;
    const dir = join(root, 'crashed');
    record(dir, { owner: { pid: gone, startTime: '1' } });
    const result = await h.run('main', ['cluster', 'show'], { env: shell(dir) });
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(`ERROR: no AWS settings given, and the sandbox recorded in ${dir} is not running`);
    expect(result.stderr).toContain(`HINT: clean it up with "pgvigil sandbox down --dir ${dir}", then start one with "pgvigil sandbox up"`);
  });

  it('does not mistake a recycled pid for the sandbox: the start time must match too', async () => {
    const dir = join(root, 'recycled');
    record(dir, { owner: { pid: process.pid, startTime: 'not-this-process' } });
    const result = await h.run('main', ['cluster', 'show'], { env: shell(dir) });
    expect(result.stderr[0]).toBe(`ERROR: no AWS settings given, and the sandbox recorded in ${dir} is not running`);
  });

  it('says a sandbox that is still coming up is still starting', async () => {
    const dir = join(root, 'starting');
    record(dir, { ready: false, tableName: null });
    const result = await h.run('main', ['cluster', 'show'], { env: shell(dir) });
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(`ERROR: no AWS settings given, and the sandbox in ${dir} is still starting`);
  });

  it('names a sandbox.json that is not one', async () => {
    const dir = join(root, 'garbage');
    mkdirSync(dir);
    writeFileSync(join(dir, 'sandbox.json'), '{"clusterId": 5}');
    const result = await h.run('main', ['cluster', 'show'], { env: shell(dir) });
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(`ERROR: ${join(dir, 'sandbox.json')} is not a pgvigil sandbox state file`);
  });
});
