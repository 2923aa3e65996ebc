/**
 * The chaos campaign's packet loss and delay on a real sandbox host (a network namespace): what the
 * rules promise shows on a TCP exchange with the host, and clearing them leaves nothing behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkFaults, haveIptables } from '../../sandbox/chaos/link-faults.js';
import { SandboxNetwork, isRoot } from '../../sandbox/netns.js';
import { echoServerScript } from '../support/echo.js';

let network: SandboxNetwork | undefined;
let dir: string;
let address: string;
let links: LinkFaults;
const PORT = 7100;
const usable = isRoot() && (await haveIptables());

/** Connects to the host's echo server and waits for the reply; the time taken, or an error. */
function exchange(timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = createConnection(PORT, address);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.write('ping'));
    socket.on('data', () => {
      socket.destroy();
      resolve(Date.now() - started);
    });
  });
}

beforeAll(async () => {
  if (!usable) return;
  dir = mkdtempSync(join(tmpdir(), 'pgv-links-'));
  network = await SandboxNetwork.create({ dir });
  address = (await network.addHost('node1')).address;
  const server = network.spawnIn('node1', process.execPath, ['-e', echoServerScript('node1', address, PORT)], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) =>
    server.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('listening')) resolve();
    }),
  );
  links = new LinkFaults(network);
});

afterAll(async () => {
  await links?.clearAll();
  await network?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('link faults on a sandbox host', () => {
  it('delays every packet both ways by the delay set, until cleared', async () => {
    if (!usable) return; // needs root (namespaces) and iptables, as the campaign says when it refuses
    await exchange(5000);
    await links.apply('node1', { delayMs: 200 });
    // SYN in, SYN-ACK out, data in, reply out: four delayed packets at least.
    expect(await exchange(10_000)).toBeGreaterThanOrEqual(800);
    await links.clear('node1');
    await exchange(5000);
  });

  it('drops the share of packets set (all of them here), until cleared', async () => {
    if (!usable) return;
    await links.apply('node1', { lossPercent: 100 });
    await expect(exchange(1500)).rejects.toThrow(/timeout/);
    await links.clear('node1');
    await exchange(5000);
  });

  it('leaves no rule behind once cleared', async () => {
    if (!usable) return;
    await links.apply('node1', { lossPercent: 10, delayMs: 50 });
    await links.clear('node1');
    const rules = await (network as SandboxNetwork).exec('node1', 'iptables', ['-S']);
    expect(rules.stdout).not.toContain('PGVIGIL_CHAOS');
  });
});
