/**
 * bench:peers' harness on its lightest peer: a repmgr cluster in namespaces comes up healthy, a
 * crashed primary is replaced (the write loop reaches the new primary through the multi-host
 * client and loses no acknowledged write), the reset rebuilds the old primary as a standby, and
 * teardown leaves no namespace or directory behind.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePeerPackages } from '../../bench/peers/install.js';
import { measurePeer } from '../../bench/peers/measure.js';
import { connectReadWrite, serverTarget } from '../../bench/peers/multihost.js';
import { RepmgrCluster } from '../../bench/peers/repmgr.js';
import { run } from '../../sandbox/netns.js';

const base = mkdtempSync(join(tmpdir(), 'pgv-peers-test-'));
chmodSync(base, 0o755);
let cluster: RepmgrCluster | undefined;
const log = (): void => undefined;

beforeAll(async () => {
  await ensurePeerPackages(['repmgr'], log);
  cluster = await RepmgrCluster.up(join(base, 'repmgr'), log);
}, 600_000);

afterAll(async () => {
  await cluster?.down();
  rmSync(base, { recursive: true, force: true });
}, 120_000);

describe('the bench:peers harness on a repmgr cluster', () => {
  it('comes up with node1 primary and the multi-host client writing to it', async () => {
    const c = cluster as RepmgrCluster;
    expect(await c.reset(log)).toBe('node1');
    expect(await c.peer.streaming('node1')).toEqual(expect.arrayContaining(['node2', 'node3']));
    // node1 listed last: the client passes over the two read-only standbys to it.
    const hosts = c.hosts('node1');
    const { client, server } = await connectReadWrite([hosts[1], hosts[2], hosts[0]].map((h) => h as NonNullable<typeof h>), 2000);
    await client.end();
    expect(c.nodeAt(serverTarget(server).host)).toBe('node1');
  }, 300_000);

  it('measures a crashed primary up to the first write on the new one, with no acknowledged write lost', async () => {
    const r = await measurePeer(cluster as RepmgrCluster, 'crash-primary', { round: 0, log, timeoutMs: 90_000 });
    expect(r.problems).toEqual([]);
    expect(r.old_primary).toBe('node1');
    expect(['node2', 'node3']).toContain(r.new_primary);
    expect(r.to_new_primary_ms).toBeGreaterThan(0);
    expect(r.acked_writes).toBeGreaterThan(10);
    expect(r.acked_writes_lost).toBe(0);
  }, 300_000);

  it('resets to a healthy cluster with the crashed node streaming again as a standby', async () => {
    const c = cluster as RepmgrCluster;
    const primary = await c.reset(log);
    expect(primary).not.toBe('node1');
    expect(await c.peer.role('node1')).toBe('standby');
    expect(await c.peer.streaming(primary)).toEqual(expect.arrayContaining(['node1', ...['node2', 'node3'].filter((n) => n !== primary)]));
  }, 300_000);

  it('tears down every namespace and its directory', async () => {
    const c = cluster as RepmgrCluster;
    const prefix = c.peer.network.prefix;
    const dir = c.peer.dir;
    await c.down();
    cluster = undefined;
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(prefix);
    expect(existsSync(dir)).toBe(false);
  }, 120_000);
});
