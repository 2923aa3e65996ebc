import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxNetwork, isRoot } from '../../sandbox/netns.js';
import { Supervisor, procStartTime, teardownProcesses } from '../../sandbox/supervisor.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(mode: 'netns' | 'loopback'): Promise<{ dir: string; network: SandboxNetwork; supervisor: Supervisor }> {
  const dir = mkdtempSync(join(tmpdir(), 'pgv-sup-'));
  const network = await SandboxNetwork.create({ dir, mode });
  const supervisor = new Supervisor(dir, network);
  cleanups.push(async () => {
    await supervisor.stopAll(2000);
    await teardownProcesses(dir);
    await network.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  await network.addHost('node1');
  await network.addHost('node2');
  return { dir, network, supervisor };
}

function alive(pid: number | null | undefined): boolean {
  return pid != null && procStartTime(pid) !== null && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A shell that leaves a daemon behind in its own session, the way pg_ctl starts a postmaster. */
const daemonizing = ['-c', 'setsid sleep 300 & echo $! > "$1"; exec sleep 300', 'sh'];

describe('Supervisor', () => {
  const modes: ('netns' | 'loopback')[] = isRoot() ? ['netns', 'loopback'] : ['loopback'];
  it.each(modes)('kills every process of a %s host, including ones that left its process group, and leaves other hosts alone', async (mode) => {
    const { dir, supervisor, network } = await setup(mode);
    const pidFile = join(dir, 'daemon.pid');
    const agent = supervisor.start({ host: 'node1', name: 'agent', command: 'sh', args: [...daemonizing, pidFile] });
    const other = supervisor.start({ host: 'node2', name: 'agent', command: 'sleep', args: ['300'] });
    await waitFor(() => {
      try {
        return /^\d+/.test(readFileSync(pidFile, 'utf8'));
      } catch {
        return false;
      }
    });
    const daemon = Number(readFileSync(pidFile, 'utf8'));
    // In loopback mode nothing but a pid source can find the daemon (as with postmaster.pid).
    if (network.mode === 'loopback') supervisor.addPidSource('node1', () => [daemon]);
    expect(alive(daemon)).toBe(true);

    const killed = await supervisor.killHost('node1');
    expect(killed).toEqual(expect.arrayContaining([agent.pid as number, daemon]));
    expect(alive(agent.pid)).toBe(false);
    expect(alive(daemon)).toBe(false);
    expect(alive(other.pid)).toBe(true);
    expect(supervisor.isHostDown('node1')).toBe(true);
    const status = supervisor.status().find((s) => s.host === 'node1' && s.name === 'agent');
    expect(status).toMatchObject({ running: false, lastExit: { signal: 'SIGKILL' } });
    expect(readFileSync(status?.log as string, 'utf8')).toBe('');
  });

  it('restarts a process that dies when asked to, like systemd Restart=always, but not after killHost', async () => {
    const { supervisor } = await setup('loopback');
    const first = supervisor.start({ host: 'node1', name: 'agent', command: 'sleep', args: ['300'], restart: true, restartDelayMs: 50 });
    await supervisor.kill('node1', 'agent');
    await waitFor(() => supervisor.status()[0]?.running === true);
    const second = supervisor.status()[0];
    expect(second?.pid).not.toBe(first.pid);
    expect(second?.restarts).toBe(1);

    await supervisor.killHost('node1');
    await new Promise((r) => setTimeout(r, 200));
    expect(supervisor.status()[0]?.running).toBe(false);
  });

  it('writes a process output to its log file and refuses a second process of the same name', async () => {
    const { supervisor } = await setup('loopback');
    const s = supervisor.start({ host: 'node2', name: 'talker', command: 'sh', args: ['-c', 'echo hello from node2; exec sleep 300'] });
    await waitFor(() => readFileSync(s.log, 'utf8').includes('hello from node2'));
    expect(() => supervisor.start({ host: 'node2', name: 'talker', command: 'sleep', args: ['1'] })).toThrow(/already runs on node2/);
    await supervisor.stop('node2', 'talker', 2000);
    expect(alive(s.pid)).toBe(false);
  });

  it('ends the processes a crashed supervisor recorded, from its directory alone', async () => {
    const { dir, network } = await setup('loopback');
    const crashed = new Supervisor(dir, network);
    const a = crashed.start({ host: 'node1', name: 'one', command: 'sleep', args: ['300'] });
    const b = crashed.start({ host: 'node2', name: 'two', command: 'sleep', args: ['300'] });
    const killed = await teardownProcesses(dir);
    expect(killed).toEqual(expect.arrayContaining([a.pid as number, b.pid as number]));
    expect(alive(a.pid)).toBe(false);
    expect(alive(b.pid)).toBe(false);
    expect(await teardownProcesses(dir)).toEqual([]);
  });
});
