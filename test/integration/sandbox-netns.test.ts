import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxNetwork, isRoot, run, teardownNetwork } from '../../sandbox/netns.js';
import { echoClientScript, echoServerScript } from '../support/echo.js';

const dirs: string[] = [];
const networks: SandboxNetwork[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgv-netns-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const n of networks) await n.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function systemNames(prefix: string): Promise<string[]> {
  const ns = (await run('ip', ['netns', 'list'])).stdout;
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
  return `${ns}\n${links}`.split('\n').filter((line) => line.includes(prefix));
}

/** Waits for the echo server in a namespace to listen (it prints "listening"). */
async function waitListening(child: import('node:child_process').ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo server did not start')), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

describe('sandbox network', () => {
  if (!isRoot()) {
    it('refuses namespaces without root and says why', async () => {
      await expect(SandboxNetwork.create({ dir: tempDir(), mode: 'netns' })).rejects.toThrow(/need root/);
    });
  }

  it('creates namespaced hosts that reach each other, cuts one off and restores it, and removes everything', async () => {
    if (!isRoot()) return; // the root-only path is covered above
    const dir = tempDir();
    const network = await SandboxNetwork.create({ dir });
    networks.push(network);
    expect(network.mode).toBe('netns');
    const a = await network.addHost('node1');
    const b = await network.addHost('node2');
    expect(a.address).not.toBe(b.address);
    expect(a.address.startsWith(network.gateway.replace(/\.1$/, '.'))).toBe(true);
    expect((await run('ip', ['netns', 'list'])).stdout).toContain(a.netns);

    const server = network.spawnIn('node1', process.execPath, ['-e', echoServerScript('node1', a.address, 7000)], {
      stdio: ['ignore', 'pipe', 'ignore'],
      uid: 101,
      gid: 104,
    });
    await waitListening(server);
    expect(await network.pids('node1')).toContain(server.pid);

    // From the other host, and from the root namespace through the bridge.
    const fromB = await network.exec('node2', process.execPath, ['-e', echoClientScript(a.address, 7000, 1500)], { timeoutMs: 10_000 });
    expect(fromB.stdout.trim()).toBe('node1:ping');
    const fromRoot = await run(process.execPath, ['-e', echoClientScript(a.address, 7000, 1500)], { timeoutMs: 10_000 });
    expect(fromRoot.code).toBe(0);

    // Processes run as the requested user inside the namespace.
    const whoami = await network.exec('node2', 'id', ['-u'], { uid: 101, gid: 104 });
    expect(whoami.stdout.trim()).toBe('101');

    await network.cut('node1');
    expect(network.isCut('node1')).toBe(true);
    const cutOff = await network.exec('node2', process.execPath, ['-e', echoClientScript(a.address, 7000, 700)], { timeoutMs: 10_000 });
    expect(cutOff.code).toBe(1);
    // The cut host's processes keep running and still answer on its own loopback-side address.
    const inside = await network.exec('node1', process.execPath, ['-e', echoClientScript(a.address, 7000, 1500)], { timeoutMs: 10_000 });
    expect(inside.stdout.trim()).toBe('node1:ping');

    await network.restore('node1');
    let restored = await network.exec('node2', process.execPath, ['-e', echoClientScript(a.address, 7000, 1500)], { timeoutMs: 10_000 });
    for (let i = 0; i < 10 && restored.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      restored = await network.exec('node2', process.execPath, ['-e', echoClientScript(a.address, 7000, 1500)], { timeoutMs: 10_000 });
    }
    expect(restored.stdout.trim()).toBe('node1:ping');

    await network.destroy();
    expect(await systemNames(network.prefix)).toEqual([]);
    expect(existsSync(join(dir, 'network.json'))).toBe(false);
    // The server inside the namespace died with it.
    expect(server.exitCode !== null || server.signalCode !== null || (await pidGone(server.pid))).toBe(true);
  });

  it('tears down what a crashed sandbox left behind, from its state file alone', async () => {
    if (!isRoot()) return;
    const dir = tempDir();
    const crashed = await SandboxNetwork.create({ dir });
    await crashed.addHost('node1');
    await crashed.addHost('witness');
    await crashed.cut('witness');
    const sleeper = crashed.spawnIn('node1', 'sleep', ['300']);
    expect((await systemNames(crashed.prefix)).length).toBeGreaterThan(0);

    // A new process knows only the directory.
    expect(await teardownNetwork(dir)).toBe(true);
    expect(await systemNames(crashed.prefix)).toEqual([]);
    expect(await pidGone(sleeper.pid)).toBe(true);
    expect(await teardownNetwork(dir)).toBe(false);
  });

  it('lets two sandboxes exist side by side on different subnets', async () => {
    if (!isRoot()) return;
    const one = await SandboxNetwork.create({ dir: tempDir() });
    networks.push(one);
    const two = await SandboxNetwork.create({ dir: tempDir() });
    networks.push(two);
    expect(one.prefix).not.toBe(two.prefix);
    expect(one.subnetCidr).not.toBe(two.subnetCidr);
    await one.addHost('node1');
    await two.addHost('node1');
    await one.destroy();
    expect(await systemNames(one.prefix)).toEqual([]);
    expect((await systemNames(two.prefix)).length).toBeGreaterThan(0);
    await two.destroy();
  });

  it('runs hosts on loopback without namespaces and explains that partitions need them', async () => {
    const network = await SandboxNetwork.create({ dir: tempDir(), mode: 'loopback' });
    networks.push(network);
    const host = await network.addHost('node1');
    expect(host).toMatchObject({ address: '127.0.0.1', netns: null });
    const result = await network.exec('node1', 'echo', ['hello']);
    expect(result.stdout.trim()).toBe('hello');
    await expect(network.cut('node1')).rejects.toThrow(/needs network namespaces/);
    await expect(network.addHost('Bad Name')).rejects.toThrow(/lower-case/);
    await network.destroy();
  });
});

async function pidGone(pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return true;
  for (let i = 0; i < 40; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
