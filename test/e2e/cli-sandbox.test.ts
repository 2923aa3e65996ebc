/**
 * The operator CLI against a running sandbox, each command a separate `pgvigil` process
 * with the environment `sandbox up` prints: the switchover runs through the switchover function the
 * sandbox process serves (the Lambda path, as from the SSM Automation document), and `service
 * pause` keeps the controller from failing over until `service unpause`. One sandbox for the file.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import { sandboxEnvironment } from '../../cli/commands/sandbox.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { Sandbox } from '../../sandbox/index.js';
import { freePort } from '../../sandbox/ports.js';
import { SCENARIOS, heal, nodeById, nodeState, runDrill, sleep, snapshotOf, storeFor } from '../../sandbox/drills/index.js';

const BIN = builtArtifact(ARTIFACTS.cli);

let sandbox: Sandbox;
let parent: string;
let env: NodeJS.ProcessEnv;
let configFile: string;

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-cli-sandbox-'));
  chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
  sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort() });
  configFile = join(sandbox.dir, 'hosts', 'node1', 'repmgr.conf');
  // Only what `sandbox up` tells the user to export (plus PATH): nothing leaks in from this shell.
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...sandboxEnvironment(sandbox.dir, sandbox.state),
  };
});

afterAll(async () => {
  await sandbox?.down();
  if (parent) rmSync(parent, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Both streams (the repmgr-style INFO:/NOTICE: lines go to stderr). */
  out: string;
  /** The command and everything it printed, for failure messages. */
  why: string;
}

/** Runs `pgvigil ARGS` (the built CLI, dist/pgvigil.mjs) as its own process with the sandbox's environment. */
function pgvigil(args: string[], timeoutMs = 240_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr, out: stdout + stderr, why: `pgvigil ${args.join(' ')} → ${code}\n${stdout}${stderr}` }));
  });
}

async function snapshot(): Promise<ClusterSnapshot> {
  const { store, close } = storeFor(sandbox);
  try {
    return await snapshotOf(store, sandbox);
  } finally {
    close();
  }
}

/** What a switchover would change: term, primary, every node's role and upstream, any operation. */
function shape(s: ClusterSnapshot): unknown {
  return {
    term: s.cluster.term,
    primary: s.cluster.primary_node_id,
    operation: s.cluster.operation,
    paused: s.cluster.paused,
    nodes: s.nodes.map((n) => ({ id: n.node_id, type: n.type, upstream: n.upstream_node_id, active: n.active })).sort((a, b) => a.id - b.id),
  };
}

describe.sequential('pgvigil against a running sandbox, from another process', () => {
  it('standby switchover --dry-run prints every check through the switchover function and changes nothing', async () => {
    const before = await snapshot();
    const vipBefore = sandbox.vip?.target?.instanceId;
    const r = await pgvigil(['standby', 'switchover', '--candidate', '2', '--siblings-follow', '--dry-run', '-f', configFile]);
    expect(r.code, r.why).toBe(0);
    expect(r.out, r.why).toContain(`(Lambda function ${sandbox.deployment.switchoverFunctionName})`);
    expect(r.out, r.why).toMatch(/checking switchover to node "node2" \(ID: 2\) in --dry-run mode/);
    expect(r.out.match(/^INFO: .+: .+$/gm)?.length ?? 0, r.why).toBeGreaterThanOrEqual(3);
    expect(r.out, r.why).toContain('prerequisites for executing STANDBY SWITCHOVER are met');
    const after = await snapshot();
    expect(shape(after), r.why).toEqual(shape(before));
    expect(sandbox.vip?.target?.instanceId).toBe(vipBefore);
    const { store, close } = storeFor(sandbox);
    try {
      const events = await store.listEvents(sandbox.state.clusterId, { sinceMs: Date.now() - 120_000 });
      expect(events.filter((e) => e.event.startsWith('switchover') || e.event === 'standby_switchover')).toEqual([]);
    } finally {
      close();
    }
  });

  it('standby switchover --candidate 2 --siblings-follow completes with exit 0 and cluster show then shows the roles swapped', async () => {
    const before = await snapshot();
    expect(before.cluster.primary_node_id).toBe(1);
    const r = await pgvigil(['standby', 'switchover', '--candidate', '2', '--siblings-follow', '-f', configFile]);
    expect(r.code, r.why).toBe(0);
    // Progress lines name the saga steps the CLI saw while polling (a fast step can pass unseen).
    expect(r.out, r.why).toMatch(/switchover step "(demote_primary|wait_catchup|promote|verify_promotion|move_vip)": /);
    expect(r.out, r.why).toContain('STANDBY SWITCHOVER has completed successfully: node "node2" (ID: 2) is the primary');

    // The saga ends with the old primary rejoined: it streams from node 2 (from its own host).
    const node1 = nodeById(sandbox, 1);
    const deadline = Date.now() + 30_000;
    let state = await nodeState(sandbox, node1);
    while (state !== 'standby_streaming' && Date.now() < deadline) {
      await sleep(500);
      state = await nodeState(sandbox, node1);
    }
    expect(state).toBe('standby_streaming');

    const show = await pgvigil(['cluster', 'show', '--json', '-f', configFile]);
    expect([0, 25], show.why).toContain(show.code);
    const model = JSON.parse(show.stdout) as { term: number; rows: { node_id: number; role: string; upstream: string; status: string }[] };
    const row = (id: number) => model.rows.find((x) => x.node_id === id);
    expect(model.term, show.why).toBe(before.cluster.term + 1);
    expect(row(2)?.role, show.why).toBe('primary');
    expect(row(2)?.status, show.why).toMatch(/running/);
    expect(row(1)?.role, show.why).toBe('standby');
    expect(row(1)?.upstream, show.why).toBe('node2');
    expect(row(3)?.upstream, show.why).toBe('node2');
    const s = await snapshot();
    expect(s.cluster.primary_node_id).toBe(2);
    expect(s.cluster.paused).toBe(false); // the switchover restores the flag it started with
  });

  it('service pause stops automatic failover (a crashed primary stays down, the controller reports why) and service unpause restores it', async () => {
    await heal(sandbox); // a healthy cluster after the switchover: every standby streaming, VIP on the primary
    const pause = await pgvigil(['service', 'pause', '-f', configFile]);
    expect(pause.code, pause.why).toBe(0);
    const before = await snapshot();
    expect(before.cluster.paused).toBe(true);
    const old = nodeById(sandbox, before.cluster.primary_node_id);

    // The crash-primary drill with a 15 s window: the drill waits for a failover that must not come.
    const drill = await runDrill(sandbox, SCENARIOS['crash-primary'], { timeoutMs: 15_000, healBefore: false });
    const why = JSON.stringify(drill, null, 1);
    expect(drill.failover_happened, why).toBe(false);
    expect(drill.term_after, why).toBe(drill.term_before);
    expect(drill.max_writable_primaries, why).toBeLessThanOrEqual(1);
    const paused = await snapshot();
    expect(paused.cluster.primary_node_id).toBe(old.node_id);
    expect(paused.cluster.operation).toBeNull();

    // Why: the live decision is report_only with the failover kept as a suppressed action, and the
    // controller logged the same decision while the primary was down.
    const explain = await pgvigil(['cluster', 'explain', '--json', '-f', configFile]);
    expect(explain.code, explain.why).toBe(0);
    const { decision } = JSON.parse(explain.stdout) as { decision: { code: string; reasons: string[]; suppressed_actions: { kind: string }[] } };
    expect(decision.code, explain.why).toBe('report_only');
    expect(decision.reasons[0], explain.why).toMatch(/paused/);
    expect(decision.suppressed_actions.map((a) => a.kind), explain.why).toContain('failover');
    const controllerLog = readFileSync(join(sandbox.supervisor.logDir, 'root.controller.log'), 'utf8');
    expect(controllerLog).toMatch(/"code":"report_only".*paused/);

    const unpause = await pgvigil(['service', 'unpause', '-f', configFile]);
    expect(unpause.code, unpause.why).toBe(0);
    const deadline = Date.now() + 90_000;
    let s = await snapshot();
    while ((s.cluster.term === before.cluster.term || s.cluster.operation) && Date.now() < deadline) {
      await sleep(250);
      s = await snapshot();
    }
    expect(s.cluster.term, JSON.stringify(shape(s))).toBe(before.cluster.term + 1);
    expect(s.cluster.primary_node_id).not.toBe(old.node_id);
    expect(s.cluster.paused).toBe(false);
    const fresh = nodeById(sandbox, s.cluster.primary_node_id);
    expect(await nodeState(sandbox, fresh)).toBe('primary');
    // Never a second primary; with auto_rejoin (the sandbox's default) it may already be back as a
    // standby, or be on its way there (stopped for its rewind).
    expect(await nodeState(sandbox, old)).not.toBe('primary');
  });
});
