/**
 * The peers' software, from Debian: installed when missing (idempotent), saying what it installs.
 * Each system is judged present by the binaries the harness runs, so a machine that has them from
 * elsewhere is left alone.
 */
import { existsSync } from 'node:fs';
import { run } from '../../sandbox/netns.js';

export type PeerSystem = 'repmgr' | 'patroni' | 'pg_auto_failover';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Per system: the binaries it needs and the Debian packages that bring them. */
export const PEER_PACKAGES: Record<PeerSystem, { binaries: string[]; packages: string[] }> = {
  repmgr: { binaries: [`${PG_BIN}/repmgr`, `${PG_BIN}/repmgrd`], packages: ['postgresql-15-repmgr'] },
  // python3-etcd satisfies the package's "one DCS client" dependency; the etcd3 API Patroni uses
  // here needs no client library of its own (it speaks etcd's JSON gateway).
  patroni: { binaries: ['/usr/bin/patroni', '/usr/bin/patronictl', '/usr/bin/etcd', '/usr/bin/etcdctl'], packages: ['patroni', 'python3-etcd', 'etcd-server', 'etcd-client'] },
  pg_auto_failover: { binaries: ['/usr/bin/pg_autoctl'], packages: ['postgresql-15-auto-failover'] },
};

/** The packages still needed for `systems` (empty when everything is there). */
export function missingPackages(systems: readonly PeerSystem[], exists: (path: string) => boolean = existsSync): string[] {
  const need = new Set<string>();
  for (const s of systems) {
    const spec = PEER_PACKAGES[s];
    if (spec.binaries.some((b) => !exists(b))) for (const p of spec.packages) need.add(p);
  }
  return [...need];
}

/** Installs what `systems` miss with apt-get (update first); throws with apt's output when it fails. */
export async function ensurePeerPackages(systems: readonly PeerSystem[], say: (line: string) => void): Promise<void> {
  const packages = missingPackages(systems);
  if (packages.length === 0) {
    if (systems.length > 0) say(`peers: ${systems.join(', ')} already installed`);
    return;
  }
  say(`peers: installing Debian packages: ${packages.join(' ')} (apt-get update, then apt-get install)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...packages]]) {
    const r = await run('apt-get', args, { env, timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  const still = missingPackages(systems);
  if (still.length > 0) throw new Error(`after installing, binaries are still missing for: ${still.join(' ')}`);
  say(`peers: installed ${packages.join(' ')}`);
}
