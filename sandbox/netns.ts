/**
 * The sandbox's hosts (docs/sandbox.md). As root, every host is a network namespace with its own address on
 * a private /24 (10.213.N.0/24), joined by a bridge that also carries an address in the root
 * namespace (the "gateway": where moto, the Lambda runtime and the VIP proxy listen). Without root,
 * every host is plain loopback and partitions are not available.
 *
 * Names carry a per-sandbox prefix (`pgv` + 4 hex digits) so two sandboxes can coexist. Every
 * resource is written to the state file in the sandbox directory *before* it is created, so
 * {@link teardownNetwork} can remove everything after a crash too.
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync, existsSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PgvigilError } from '../core/errors.js';

export type NetworkMode = 'netns' | 'loopback';

/** One emulated host. */
export interface SandboxHost {
  /** Short name, e.g. `node1`, `witness`. */
  name: string;
  /** The host's address as seen by the other hosts and by the root namespace. */
  address: string;
  /** The network namespace's name, or null in loopback mode. */
  netns: string | null;
  /** The bridge-side end of the host's veth pair (what {@link SandboxNetwork.cut} brings down). */
  veth: string | null;
}

/** What the state file records (everything created, so teardown works after a crash). */
export interface NetworkState {
  prefix: string;
  mode: NetworkMode;
  /** Third octet of 10.213.N.0/24, null in loopback mode. */
  subnet: number | null;
  claimFile: string | null;
  bridge: string | null;
  gateway: string;
  hosts: SandboxHost[];
  /** Hosts whose veth is down right now. */
  cut: string[];
}

export interface NetworkOptions {
  /** The sandbox directory; the state file `network.json` is written there. */
  dir: string;
  /** `auto` (default) picks netns when running as root. */
  mode?: 'auto' | NetworkMode;
  /** Name prefix (default: `pgv` + 4 random hex digits). At most 8 characters: interface names are limited to 15. */
  prefix?: string;
}

export interface ExecOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command (its whole process group) after this long; the result then has `timedOut`. */
  timeoutMs?: number;
  input?: string;
  /** Keep at most this many characters of stdout and of stderr (the tail). @default 1_000_000 */
  maxOutput?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface SpawnInOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdio?: StdioOptions;
}

const SUBNET_BASE = '10.213';
/** The root namespace as a pseudo-host (moto, the controller, the VIP proxy run there). */
export const ROOT_HOST = 'root';
const CLAIM_DIR = '/run/pgvigil-sandbox';
const STATE_FILE = 'network.json';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Runs a command and collects its output; never throws for a non-zero exit. */
export function run(command: string, args: string[], options: ExecOptions & { argv0?: string } = {}): Promise<ExecResult> {
  const max = options.maxOutput ?? 1_000_000;
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills the command and its children
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    };
    const child = spawn(command, args, spawnOptions);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-max);
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-max);
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGroup(child.pid, 'SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    child.stdin?.end(options.input ?? '');
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Runs `ip …` and throws a PgvigilError naming the command when it fails. */
async function ip(args: string[], allowFailure = false): Promise<ExecResult> {
  const result = await run('ip', args, { timeoutMs: 10_000 });
  if (result.code !== 0 && !allowFailure) {
    throw new PgvigilError('SYS_FAILURE', `sandbox network: "ip ${args.join(' ')}" failed`, {
      detail: (result.stderr || result.stdout).trim(),
    });
  }
  return result;
}

function writeState(dir: string, state: NetworkState): void {
  const file = join(dir, STATE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function readNetworkState(dir: string): NetworkState | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as NetworkState;
}

/** Claims a free 10.213.N.0/24 with an exclusive file per subnet, reclaiming claims whose owner is gone. */
async function claimSubnet(stateFile: string): Promise<{ subnet: number; claimFile: string }> {
  mkdirSync(CLAIM_DIR, { recursive: true, mode: 0o755 });
  const inUse = (await ip(['-4', '-o', 'addr', 'show'])).stdout;
  for (let n = 0; n < 256; n++) {
    if (inUse.includes(` ${SUBNET_BASE}.${n}.`)) continue;
    const claimFile = join(CLAIM_DIR, `subnet-${n}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(claimFile, 'wx');
        writeSync(fd, stateFile);
        closeSync(fd);
        return { subnet: n, claimFile };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // A claim whose sandbox no longer has a state file is left over from a crash.
        const owner = readFileSync(claimFile, 'utf8').trim();
        if (owner && existsSync(owner)) break;
        rmSync(claimFile, { force: true });
      }
    }
  }
  throw new PgvigilError('SYS_FAILURE', `sandbox network: no free subnet in ${SUBNET_BASE}.0.0/16`);
}

export class SandboxNetwork {
  private constructor(
    readonly dir: string,
    private state: NetworkState,
  ) {}

  /** Creates the network (the bridge, in netns mode) and writes the state file. */
  static async create(options: NetworkOptions): Promise<SandboxNetwork> {
    const requested = options.mode ?? 'auto';
    const mode: NetworkMode = requested === 'auto' ? (isRoot() ? 'netns' : 'loopback') : requested;
    if (mode === 'netns' && !isRoot()) {
      throw new PgvigilError('SYS_FAILURE', 'sandbox network: network namespaces need root', {
        hint: 'run as root, or use the loopback mode (no partition drills)',
      });
    }
    const prefix = options.prefix ?? `pgv${randomBytes(2).toString('hex')}`;
    if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix)) {
      throw new PgvigilError('BAD_ARGUMENT', `sandbox network: prefix "${prefix}" must be 2-8 lower-case letters or digits`);
    }
    mkdirSync(options.dir, { recursive: true });
    if (readNetworkState(options.dir)) {
      throw new PgvigilError('CONFLICT', `sandbox network: ${join(options.dir, STATE_FILE)} already exists`, {
        hint: 'tear the old sandbox down first ("pgvigil sandbox down")',
      });
    }
    const state: NetworkState = { prefix, mode, subnet: null, claimFile: null, bridge: null, gateway: '127.0.0.1', hosts: [], cut: [] };
    const stateFile = join(options.dir, STATE_FILE);
    writeState(options.dir, state);
    const network = new SandboxNetwork(options.dir, state);
    if (mode === 'loopback') return network;
    try {
      const { subnet, claimFile } = await claimSubnet(stateFile);
      state.subnet = subnet;
      state.claimFile = claimFile;
      state.bridge = `${prefix}br`;
      state.gateway = `${SUBNET_BASE}.${subnet}.1`;
      writeState(options.dir, state);
      await ip(['link', 'add', state.bridge, 'type', 'bridge']);
      await ip(['addr', 'add', `${state.gateway}/24`, 'dev', state.bridge]);
      await ip(['link', 'set', state.bridge, 'up']);
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  /** Re-opens the network of a running sandbox from its state file. */
  static open(dir: string): SandboxNetwork {
    const state = readNetworkState(dir);
    if (!state) throw new PgvigilError('NOT_FOUND', `no sandbox network in ${dir} (no ${STATE_FILE})`);
    return new SandboxNetwork(dir, state);
  }

  get mode(): NetworkMode {
    return this.state.mode;
  }
  get prefix(): string {
    return this.state.prefix;
  }
  /** The root namespace's address on the sandbox network (where shared services listen). */
  get gateway(): string {
    return this.state.gateway;
  }
  get subnetCidr(): string | null {
    return this.state.subnet === null ? null : `${SUBNET_BASE}.${this.state.subnet}.0/24`;
  }
  get hosts(): SandboxHost[] {
    return [...this.state.hosts];
  }

  host(name: string): SandboxHost {
    if (name === ROOT_HOST) return { name, address: this.state.gateway, netns: null, veth: null };
    const host = this.state.hosts.find((h) => h.name === name);
    if (!host) throw new PgvigilError('NOT_FOUND', `sandbox has no host "${name}"`);
    return host;
  }

  /** Adds a host: a namespace with loopback up and `eth0` on the bridge (netns mode). */
  async addHost(name: string): Promise<SandboxHost> {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name) || name === ROOT_HOST) {
      throw new PgvigilError('BAD_ARGUMENT', `sandbox host name "${name}" must be lower-case letters, digits or "-" (and not "${ROOT_HOST}")`);
    }
    if (this.state.hosts.some((h) => h.name === name)) {
      throw new PgvigilError('CONFLICT', `sandbox already has a host "${name}"`);
    }
    if (this.state.mode === 'loopback') {
      const host: SandboxHost = { name, address: '127.0.0.1', netns: null, veth: null };
      this.state.hosts.push(host);
      writeState(this.dir, this.state);
      return host;
    }
    const index = this.nextIndex();
    const host: SandboxHost = {
      name,
      address: `${SUBNET_BASE}.${this.state.subnet}.${10 + index}`,
      netns: `${this.state.prefix}-${name}`,
      veth: `${this.state.prefix}h${index}`,
    };
    const peer = `${this.state.prefix}p${index}`;
    this.state.hosts.push(host);
    writeState(this.dir, this.state); // recorded before creation: a crash half-way is still torn down
    const ns = host.netns as string;
    const veth = host.veth as string;
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    await ip(['link', 'set', peer, 'netns', ns]);
    await ip(['-n', ns, 'link', 'set', peer, 'name', 'eth0']);
    await ip(['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['link', 'set', veth, 'master', this.state.bridge as string]);
    await ip(['link', 'set', veth, 'up']);
    return host;
  }

  private nextIndex(): number {
    const used = new Set(this.state.hosts.map((h) => Number(h.veth?.slice(this.state.prefix.length + 1))));
    for (let i = 1; i < 100; i++) if (!used.has(i)) return i;
    throw new PgvigilError('SYS_FAILURE', 'sandbox network: at most 99 hosts');
  }

  private requireNetns(host: SandboxHost, what: string): { ns: string; veth: string } {
    if (!host.netns || !host.veth) {
      throw new PgvigilError('SYS_FAILURE', `sandbox network: ${what} needs network namespaces (loopback mode has none)`, {
        hint: 'run the sandbox as root for partition drills',
      });
    }
    return { ns: host.netns, veth: host.veth };
  }

  /** Partitions a host: its link to the bridge goes down; its processes keep running. */
  async cut(name: string): Promise<void> {
    const host = this.host(name);
    const { veth } = this.requireNetns(host, 'cutting a host');
    if (!this.state.cut.includes(name)) this.state.cut.push(name);
    writeState(this.dir, this.state);
    await ip(['link', 'set', veth, 'down']);
  }

  /** Ends a partition. */
  async restore(name: string): Promise<void> {
    const host = this.host(name);
    const { veth } = this.requireNetns(host, 'restoring a host');
    await ip(['link', 'set', veth, 'up']);
    this.state.cut = this.state.cut.filter((h) => h !== name);
    writeState(this.dir, this.state);
  }

  isCut(name: string): boolean {
    return this.state.cut.includes(name);
  }

  /** The command line that runs `command args` on a host as uid/gid (setpriv execs, so the pid is the command's). */
  commandLine(name: string, command: string, args: string[], ids: { uid?: number; gid?: number } = {}): { command: string; args: string[]; spawnIds: { uid?: number; gid?: number } } {
    const host = this.host(name);
    if (!host.netns) {
      return { command, args, spawnIds: ids };
    }
    const drop =
      ids.uid === undefined && ids.gid === undefined
        ? []
        : ['setpriv', ...(ids.uid !== undefined ? ['--reuid', String(ids.uid)] : []), ...(ids.gid !== undefined ? ['--regid', String(ids.gid)] : []), '--clear-groups', '--'];
    return { command: 'ip', args: ['netns', 'exec', host.netns, ...drop, command, ...args], spawnIds: {} };
  }

  /** Runs a command on a host and waits for it. */
  async exec(name: string, command: string, args: string[] = [], options: ExecOptions = {}): Promise<ExecResult> {
    const { uid, gid, ...rest } = options;
    const line = this.commandLine(name, command, args, { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) });
    return run(line.command, line.args, { ...rest, ...line.spawnIds });
  }

  /** Starts a long-running process on a host (in its own process group); the caller owns it. */
  spawnIn(name: string, command: string, args: string[], options: SpawnInOptions = {}): ChildProcess {
    const line = this.commandLine(name, command, args, {
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    return spawn(line.command, line.args, {
      detached: true,
      stdio: options.stdio ?? 'ignore',
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...line.spawnIds,
    });
  }

  /** Every process inside a host's namespace (netns mode; empty in loopback mode). */
  async pids(name: string): Promise<number[]> {
    const host = this.host(name);
    if (!host.netns) return [];
    return namespacePids(host.netns);
  }

  /** Removes one host (killing whatever still runs in its namespace). */
  async removeHost(name: string): Promise<void> {
    const host = this.host(name);
    await removeHostResources(host);
    this.state.hosts = this.state.hosts.filter((h) => h.name !== name);
    this.state.cut = this.state.cut.filter((h) => h !== name);
    writeState(this.dir, this.state);
  }

  /** Removes everything this network created, including the state file. Idempotent. */
  async destroy(): Promise<void> {
    await teardownState(this.state);
    rmSync(join(this.dir, STATE_FILE), { force: true });
  }
}

async function namespacePids(ns: string): Promise<number[]> {
  const result = await run('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
  if (result.code !== 0) return [];
  return result.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

async function removeHostResources(host: SandboxHost): Promise<void> {
  if (host.netns) {
    // Only processes this sandbox started can be inside its namespace.
    for (let round = 0; round < 20; round++) {
      const pids = await namespacePids(host.netns);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await ip(['netns', 'del', host.netns], true);
  }
  if (host.veth) await ip(['link', 'del', host.veth], true); // usually gone with the namespace already
}

async function teardownState(state: NetworkState): Promise<void> {
  for (const host of state.hosts) await removeHostResources(host);
  if (state.bridge) await ip(['link', 'del', state.bridge], true);
  if (state.claimFile) rmSync(state.claimFile, { force: true });
}

/**
 * Removes everything a sandbox network recorded in `dir` — for `sandbox down` after a crash.
 * Returns false when there was nothing to remove.
 */
export async function teardownNetwork(dir: string): Promise<boolean> {
  const state = readNetworkState(dir);
  if (!state) return false;
  await teardownState(state);
  rmSync(join(dir, STATE_FILE), { force: true });
  return true;
}
