/**
 * `pgvigil sandbox up|down|status`: the whole system on this machine (docs/sandbox.md). `up` keeps running
 * and prints events until Ctrl-C, which tears everything down; `--detach` leaves it running in the
 * background for scripts, and `down` stops it (also after a crash, from the directory alone).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import { PgvigilError } from '../../core/errors.js';
import { DEFAULT_SANDBOX_DIR } from '../local-sandbox.js';
import { defineCommand, opt, reportError, type CommandContext, type OptionSpec } from '../../shell/framework.js';
import type { Output } from '../../shell/output.js';
import { clusterShowCommand } from './cluster-show.js';

const dirOption: Record<string, OptionSpec> = {
  dir: { type: 'string', description: `the sandbox directory (default ${DEFAULT_SANDBOX_DIR}, or PGVIGIL_SANDBOX_DIR)` },
};

/**
 * Loads sandbox code. The sandbox deploys the CDK app into moto, so it needs aws-cdk-lib, which a
 * clone of the repository has and the host package (no node_modules) has not: say so plainly.
 */
export async function loadSandbox<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new PgvigilError('BAD_CONFIG', 'the sandbox runs from a clone of the pgvigil repository', {
      detail: (error as Error).message.split('\n')[0],
      hint: 'clone the repository, then run "npm ci && npm start" there',
    });
  }
}

/** The sandbox directory a command works on: --dir, else PGVIGIL_SANDBOX_DIR, else the default. */
export function sandboxDir(ctx: CommandContext): string {
  return resolve(opt.string(ctx, 'dir') ?? ctx.env.PGVIGIL_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR);
}

async function readOverrides(ctx: CommandContext): Promise<{ text: string; file: string } | undefined> {
  const file = opt.string(ctx, 'config');
  if (!file) return undefined;
  try {
    return { text: await readFile(file, 'utf8'), file };
  } catch (error) {
    throw new PgvigilError('BAD_CONFIG', `cannot read configuration file "${file}"`, { detail: (error as Error).message });
  }
}

function alive(pid: number, startTime: string | null, procStartTime: (pid: number) => string | null): boolean {
  const now = procStartTime(pid);
  return now !== null && now === startTime;
}

/**
 * The environment that points `pgvigil` in another shell at the sandbox: emulated AWS, the
 * switchover function the sandbox process serves, the cluster's configuration file, the directory.
 */
export function sandboxEnvironment(dir: string, state: { motoEndpoint: string | null; region: string; switchover?: { endpoint: string; functionName: string } | null }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: state.motoEndpoint ?? '',
    ...(state.switchover ? { AWS_ENDPOINT_URL_LAMBDA: state.switchover.endpoint, PGVIGIL_SWITCHOVER_FUNCTION: state.switchover.functionName } : {}),
    AWS_REGION: state.region,
    AWS_DEFAULT_REGION: state.region, // what the aws CLI reads (`aws ssm start-automation-execution` in README.md)
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    PGVIGIL_CONFIG: join(dir, 'hosts', 'node1', 'repmgr.conf'),
    PGVIGIL_SANDBOX_DIR: dir,
  };
}

/** How to point `pgvigil` at the sandbox: one `export` line to paste, then commands that work with it. */
function printUsage(out: Output, dir: string, state: Parameters<typeof sandboxEnvironment>[1] & { vip: { port: number }; routes?: { writer: string; reader: string } | null }): void {
  const env = sandboxEnvironment(dir, state);
  out.print('');
  out.print('  # in another shell: paste this line, then run any pgvigil command');
  out.print(`  export ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out.print('  pgvigil cluster show');
  out.print('  pgvigil standby switchover --candidate 2 --siblings-follow --dry-run');
  out.print('  pgvigil sandbox drill --scenario crash-primary');
  out.print(`  psql -h 127.0.0.1 -p ${state.vip.port} -U postgres            # through the VIP (the Elastic IP)`);
  if (state.routes) {
    const [writer, reader] = [state.routes.writer, state.routes.reader].map((r) => r.slice(r.lastIndexOf(':') + 1));
    out.print(`  psql -h 127.0.0.1 -p ${writer} -U postgres            # through the writer route (the load balancer's /primary)`);
    out.print(`  psql -h 127.0.0.1 -p ${reader} -U postgres            # through the reader route (its /replica?lag=…)`);
  }
  out.print('');
}

/**
 * What `sandbox up` prints once the sandbox is up (README.md shows it, and test/e2e/sandbox-up.test.ts
 * holds the two to each other): how to use it from another shell, then `pgvigil cluster show` run
 * the way that shell would run it.
 */
async function announce(ctx: CommandContext, dir: string, state: Parameters<typeof printUsage>[2]): Promise<void> {
  printUsage(ctx.out, dir, state);
  ctx.out.info('pgvigil cluster show:');
  try {
    await clusterShowCommand.run({ options: {}, positionals: [], out: ctx.out, env: sandboxEnvironment(dir, state), deps: ctx.deps });
  } catch (error) {
    reportError(ctx.out, error);
  }
  ctx.out.print('');
}

export const sandboxUpCommand = defineCommand({
  words: ['sandbox', 'up'],
  summary: 'bring up the whole system on this machine: moto, 3 PostgreSQL nodes + witness, agents, controller, VIP',
  usage: 'sandbox up [--detach] [--config FILE] [--dir DIR] [--vip-port N] [--no-controller] [--latency local|aws]',
  examples: ['pgvigil sandbox up', 'pgvigil sandbox up --detach --config fast.conf'],
  options: {
    ...dirOption,
    detach: { type: 'boolean', description: 'return once everything is up and leave it running' },
    config: { type: 'string', description: 'repmgr.conf fragment whose keys override the sandbox defaults on every node' },
    'vip-port': { type: 'integer', description: 'port of the VIP on 127.0.0.1 (default 6432)' },
    'no-controller': { type: 'boolean', description: 'do not start the controller (the cluster reports but does not fail over)' },
    latency: { type: 'string', description: 'latency profile: local (default, this machine as it is) or aws (AWS\'s own latencies; docs/sandbox.md)' },
  },
  async run(ctx) {
    const dir = sandboxDir(ctx);
    const overrides = await readOverrides(ctx);
    const { parseLatencyProfile } = await loadSandbox(() => import('../../sandbox/latency.js'));
    const latency = parseLatencyProfile(opt.string(ctx, 'latency') ?? 'local');
    const vipPort = opt.integer(ctx, 'vip-port') ?? 6432;
    if (vipPort < 1 || vipPort > 65535) throw new PgvigilError('BAD_ARGUMENT', `option --vip-port expects a port number, got ${vipPort}`);
    if (opt.flag(ctx, 'detach')) return detach(ctx, dir);

    const { Sandbox } = await loadSandbox(() => import('../../sandbox/index.js'));
    const sandbox = await Sandbox.up({
      dir,
      vipPort,
      ...(overrides ? { overrides } : {}),
      ...(opt.flag(ctx, 'no-controller') ? { startController: false as const } : {}),
      latency,
      progress: (line) => ctx.out.info(line),
    });
    ctx.out.notice(`sandbox is up in ${dir}`);
    // `pgvigil sandbox drill` from another shell runs its drill in this process (sandbox/drills/server.ts).
    const { serveDrills } = await loadSandbox(() => import('../../sandbox/drills/server.js'));
    const stopDrills = await serveDrills(sandbox, (line) => ctx.out.info(line));
    await announce(ctx, dir, sandbox.state);

    // Events as they happen, until Ctrl-C (or `sandbox down`, which sends SIGTERM).
    ctx.out.info('events as they happen (Ctrl-C tears the sandbox down):');
    const [{ DynamoDBClient }, { DynamoStateStore }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../../adapters/dynamo-state-store.js')]);
    const dynamo = new DynamoDBClient(sandbox.clientConfig);
    const store = new DynamoStateStore(dynamo, sandbox.deployment.tableName);
    let since = Date.now() - 120_000;
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (stop = r));
    process.once('SIGINT', () => stop());
    process.once('SIGTERM', () => stop());
    const seen = new Set<string>();
    const timer = setInterval(() => {
      void store
        .listEvents(sandbox.state.clusterId, { sinceMs: since })
        .then((events) => {
          for (const e of events) {
            const key = `${e.timestamp}/${e.node_id}/${e.event}`;
            if (seen.has(key)) continue;
            seen.add(key);
            since = Math.max(since, e.timestamp - 5000);
            ctx.out.print(`${new Date(e.timestamp).toISOString()}  node ${e.node_id}  ${e.event}${e.successful ? '' : ' (failed)'}  ${e.details}`);
          }
        })
        .catch(() => undefined);
    }, 1000);
    await stopped;
    clearInterval(timer);
    ctx.out.info('tearing the sandbox down');
    await stopDrills();
    dynamo.destroy();
    await sandbox.down();
    ctx.out.notice('sandbox removed');
    return 0;
  },
});

/** Starts `sandbox up` in the background and returns when it is ready (or has failed). */
async function detach(ctx: CommandContext, dir: string): Promise<number> {
  const { readSandboxState } = await loadSandbox(() => import('../../sandbox/index.js'));
  if (readSandboxState(dir)) throw new PgvigilError('CONFLICT', `${dir} already holds a sandbox`, { hint: `run "pgvigil sandbox down --dir ${dir}" first` });
  const log = `${dir}.log`;
  const fd = openSync(log, 'w');
  const args = process.argv.slice(2).filter((a) => a !== '--detach');
  if (!args.includes('--dir')) args.push('--dir', dir);
  const child = spawn(process.execPath, [builtArtifact(ARTIFACTS.cli), ...args], { detached: true, stdio: ['ignore', fd, fd], env: ctx.env });
  closeSync(fd);
  child.unref();
  let printed = 0;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
    for (const line of lines.slice(printed, -1)) if (line.startsWith('INFO: ') || line.startsWith('ERROR: ')) ctx.out.print(line);
    printed = Math.max(printed, lines.length - 1);
    const state = readSandboxState(dir);
    if (state?.ready) {
      ctx.out.notice(`sandbox is up in ${dir} (pid ${child.pid}); output in ${log}; stop it with "pgvigil sandbox down --dir ${dir}"`);
      await announce(ctx, dir, state);
      return 0;
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new PgvigilError('SYS_FAILURE', 'the sandbox did not come up', { detail: `see ${log}` });
    }
    if (Date.now() > deadline) throw new PgvigilError('SYS_FAILURE', 'the sandbox did not come up within 10 minutes', { detail: `see ${log}` });
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const sandboxDownCommand = defineCommand({
  words: ['sandbox', 'down'],
  summary: 'stop a sandbox and remove everything it created (processes, namespaces, data), also after a crash',
  usage: 'sandbox down [--dir DIR]',
  examples: ['pgvigil sandbox down'],
  options: { ...dirOption },
  async run(ctx) {
    const dir = sandboxDir(ctx);
    const { readSandboxState, sandboxDown } = await loadSandbox(() => import('../../sandbox/index.js'));
    const { procStartTime } = await loadSandbox(() => import('../../sandbox/supervisor.js'));
    const state = readSandboxState(dir);
    if (!state && !existsSync(dir)) {
      ctx.out.notice(`no sandbox in ${dir}; nothing to do`);
      return 0;
    }
    // A running `sandbox up` tears down itself (its controller and proxy live in that process).
    if (state && state.owner.pid !== process.pid && alive(state.owner.pid, state.owner.startTime, procStartTime)) {
      ctx.out.info(`stopping the sandbox process (pid ${state.owner.pid})`);
      process.kill(state.owner.pid, 'SIGTERM');
      const deadline = Date.now() + 60_000;
      while (alive(state.owner.pid, state.owner.startTime, procStartTime) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    }
    for (const line of await sandboxDown(dir)) ctx.out.info(line);
    rmSync(`${dir}.log`, { force: true }); // the output of a detached `sandbox up`
    ctx.out.notice('sandbox removed');
    return 0;
  },
});

export const sandboxStatusCommand = defineCommand({
  words: ['sandbox', 'status'],
  summary: 'show a sandbox: hosts, processes, VIP target, cluster term and primary, and where its CPU goes',
  usage: 'sandbox status [--dir DIR] [--json] [--cpu SECS]',
  examples: ['pgvigil sandbox status', 'pgvigil sandbox status --json', 'pgvigil sandbox status --cpu 10'],
  options: {
    ...dirOption,
    json: { type: 'boolean', description: 'one JSON object' },
    cpu: { type: 'integer', description: 'also sample each sandbox process\'s CPU over SECS seconds (1-600)' },
  },
  async run(ctx) {
    const dir = sandboxDir(ctx);
    const cpuSecs = opt.integer(ctx, 'cpu');
    if (cpuSecs !== undefined && (cpuSecs < 1 || cpuSecs > 600)) throw new PgvigilError('BAD_ARGUMENT', `option --cpu expects seconds in 1..600, got ${cpuSecs}`);
    const { readSandboxState } = await loadSandbox(() => import('../../sandbox/index.js'));
    const { readNetworkState } = await loadSandbox(() => import('../../sandbox/netns.js'));
    const { procStartTime } = await loadSandbox(() => import('../../sandbox/supervisor.js'));
    const state = readSandboxState(dir);
    if (!state) throw new PgvigilError('NOT_FOUND', `no sandbox in ${dir}`, { hint: 'start one with "pgvigil sandbox up"' });
    const network = readNetworkState(dir);
    const processesFile = join(dir, 'processes.json');
    const processes = existsSync(processesFile)
      ? (JSON.parse(readFileSync(processesFile, 'utf8')) as { host: string; name: string; pid: number; startTime: string }[]).map((p) => ({
          ...p,
          running: alive(p.pid, p.startTime, procStartTime),
        }))
      : [];
    let cluster: { term: number; primary_node_id: number | null; paused: boolean } | null = null;
    let vipInstance: string | null = null;
    if (state.motoEndpoint && state.tableName) {
      const config = { endpoint: state.motoEndpoint, region: state.region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
      const [{ DynamoDBClient }, { DynamoStateStore }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../../adapters/dynamo-state-store.js')]);
      const dynamo = new DynamoDBClient(config);
      try {
        const loaded = await new DynamoStateStore(dynamo, state.tableName).load(state.clusterId);
        if (loaded) cluster = { term: loaded.snapshot.cluster.term, primary_node_id: loaded.snapshot.cluster.primary_node_id, paused: loaded.snapshot.cluster.paused };
        if (state.vip.allocationId) {
          const { EC2Client } = await import('@aws-sdk/client-ec2');
          const { Ec2VipMover } = await import('../../adapters/ec2-vip.js');
          const ec2 = new EC2Client(config);
          vipInstance = await new Ec2VipMover(ec2).current(state.vip.allocationId).catch(() => null);
          ec2.destroy();
        }
      } catch {
        // the emulator is not answering: report what the files say
      } finally {
        dynamo.destroy();
      }
    }
    const owner = alive(state.owner.pid, state.owner.startTime, procStartTime);
    const hosts = (network?.hosts ?? []).map((h) => ({
      name: h.name,
      address: h.address,
      instance_id: state.instances[h.name] ?? null,
      cut: network?.cut.includes(h.name) ?? false,
      vip: vipInstance !== null && state.instances[h.name] === vipInstance,
    }));
    // Where the CPU goes (docs/sandbox.md, "CPU"): only while the sandbox runs, over --cpu seconds.
    let cpu: import('../../sandbox/cpu.js').CpuReport | null = null;
    if (cpuSecs !== undefined && owner) {
      const { sampleSandboxCpu } = await loadSandbox(() => import('../../sandbox/cpu.js'));
      const { availableParallelism } = await import('node:os');
      cpu = await sampleSandboxCpu(dir, state, cpuSecs * 1000, availableParallelism());
    }
    const status = {
      dir,
      ready: state.ready,
      running: owner,
      mode: state.mode,
      latency: state.latency ?? 'local',
      moto: state.motoEndpoint,
      vip: `${state.vip.host}:${state.vip.port}`,
      routes: state.routes ?? null,
      cluster_id: state.clusterId,
      cluster,
      switchover: state.switchover ?? null,
      hosts,
      processes,
      ...(cpuSecs !== undefined ? { cpu } : {}),
    };
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(JSON.stringify(status));
      return 0;
    }
    ctx.out.print(`sandbox ${dir}: ${owner ? (state.ready ? 'running' : 'starting') : 'not running (stale: run "pgvigil sandbox down")'}, ${state.mode} mode, latency profile ${status.latency}`);
    ctx.out.print(`emulated AWS: ${state.motoEndpoint ?? "-"}; VIP ${status.vip}`);
    if (state.routes) ctx.out.print(`routes: writer ${state.routes.writer} (/primary), reader ${state.routes.reader} (/replica?lag=…)`);
    if (state.switchover) ctx.out.print(`switchover function: ${state.switchover.functionName} on ${state.switchover.endpoint} (AWS_ENDPOINT_URL_LAMBDA)`);
    if (cluster) ctx.out.print(`cluster ${state.clusterId}: term ${cluster.term}, primary node ${cluster.primary_node_id ?? '-'}${cluster.paused ? ', paused' : ''}`);
    for (const h of hosts) ctx.out.print(`  ${h.name.padEnd(8)} ${h.address.padEnd(13)} ${h.instance_id ?? '-'}${h.cut ? '  CUT' : ''}${h.vip ? '  <- VIP' : ''}`);
    for (const p of processes) ctx.out.print(`  ${`${p.host}/${p.name}`.padEnd(16)} pid ${p.pid} ${p.running ? 'running' : 'gone'}`);
    if (cpu) {
      const { formatCpuReport } = await loadSandbox(() => import('../../sandbox/cpu.js'));
      for (const line of formatCpuReport(cpu)) ctx.out.print(line);
    } else if (cpuSecs !== undefined) ctx.out.print('CPU: not sampled (the sandbox is not running)');
    return owner || !state.ready ? 0 : 25;
  },
});
