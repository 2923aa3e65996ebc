import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/peers/args.js';
import { missingPackages } from '../../bench/peers/install.js';
import { firstOnNewServer } from '../../bench/peers/measure.js';
import { selectHost, serverTarget, type HostOutcome } from '../../bench/peers/multihost.js';
import { observersMs, quantile, ratios, renderTable, roundPlan, rotate, stepsLine, summarize, type RunRecord } from '../../bench/peers/stats.js';
import type { WriteAttempt } from '../../sandbox/writers.js';

type Fake = { name: string; outcome: HostOutcome<string> | Error };

function trying(hosts: Fake[]) {
  const tried: string[] = [];
  const attempt = async (h: Fake): Promise<HostOutcome<string>> => {
    tried.push(h.name);
    if (h.outcome instanceof Error) throw h.outcome;
    return h.outcome;
  };
  return { tried, run: () => selectHost(hosts, (h) => h.name, attempt) };
}

describe('the multi-host client picks hosts as libpq does with target_session_attrs=read-write', () => {
  it('takes the first host when it is writable and tries no other', async () => {
    const t = trying([
      { name: 'a', outcome: { ok: true, value: 'A' } },
      { name: 'b', outcome: { ok: true, value: 'B' } },
    ]);
    expect((await t.run()).value).toBe('A');
    expect(t.tried).toEqual(['a']);
  });

  it('passes over a host that is down and one that is read-only, in order, to the first writable one', async () => {
    const t = trying([
      { name: 'a', outcome: new Error('connect ECONNREFUSED') },
      { name: 'b', outcome: { ok: false, reason: 'read-only' } },
      { name: 'c', outcome: { ok: true, value: 'C' } },
    ]);
    const picked = await t.run();
    expect(picked.value).toBe('C');
    expect(picked.host.name).toBe('c');
    expect(t.tried).toEqual(['a', 'b', 'c']);
  });

  it('fails naming every host and why when none is writable', async () => {
    const t = trying([
      { name: 'a', outcome: { ok: false, reason: 'timeout after 1000 ms' } },
      { name: 'b', outcome: { ok: false, reason: 'read-only' } },
    ]);
    await expect(t.run()).rejects.toThrow('no read-write server among 2 host(s): a: timeout after 1000 ms; b: read-only');
  });

  it('refuses an empty host list', async () => {
    await expect(trying([]).run()).rejects.toThrow('no hosts given');
  });

  it('reads the host and port back from a server name', () => {
    expect(serverTarget('10.213.4.12:5432@2026-12-07 00:11:15.28+00')).toEqual({ host: '10.213.4.12', port: 5432 });
  });
});

function attempt(id: number, sentAt: number, ackedAt: number | null, server: string): WriteAttempt {
  return { id, sentAt, ackedAt, error: ackedAt === null ? 'failed' : null, server };
}

describe('the first write on a new primary', () => {
  it('skips writes the old primary acknowledged after the fault and failed writes', () => {
    const attempts = [attempt(1, 90, 95, 'old'), attempt(2, 100, 105, 'old'), attempt(3, 150, null, 'new'), attempt(4, 200, 230, 'new'), attempt(5, 250, 260, 'new')];
    expect(firstOnNewServer(attempts, 100, 'old')?.id).toBe(4);
  });

  it('counts a primary restarted in place as new (another postmaster start time)', () => {
    const attempts = [attempt(1, 0, 5, 'n1@t0'), attempt(2, 500, 520, 'n1@t1')];
    expect(firstOnNewServer(attempts, 100, 'n1@t0')?.id).toBe(2);
  });

  it('finds none while only the old primary answers', () => {
    expect(firstOnNewServer([attempt(1, 100, 110, 'old')], 100, 'old')).toBeUndefined();
  });
});

function run(system: RunRecord['system'], fault: RunRecord['fault'], ms: number | null, lost: number | null = 0): RunRecord {
  return { round: 0, system, fault, ok: ms !== null && lost === 0, problems: [], to_new_primary_ms: ms, write_outage_ms: ms, acked_writes: 10, acked_writes_lost: lost, old_primary: 'node1', new_primary: ms === null ? null : 'node2', in_place: false, notes: [] };
}

describe('the figures', () => {
  it('takes the nearest-rank quantile', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3], 0.5)).toBe(2);
    expect(quantile([7], 0.95)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('summarizes p50 and max per system and fault, leaving out runs that saw no new primary', () => {
    const cells = summarize([run('repmgr', 'crash-primary', 3000), run('repmgr', 'crash-primary', 2000), run('repmgr', 'crash-primary', 4000), run('repmgr', 'crash-primary', null)]);
    expect(cells).toHaveLength(1);
    expect(cells[0]).toMatchObject({ system: 'repmgr', fault: 'crash-primary', runs: 4, ok: 3, p50: 3000, max: 4000, lost: 0 });
  });

  it('adds up lost writes and says unknown when a run could not be checked', () => {
    expect(summarize([run('patroni', 'switchover', 1000, 2), run('patroni', 'switchover', 1000, 1)])[0]?.lost).toBe(3);
    expect(summarize([run('patroni', 'switchover', 1000, 0), run('patroni', 'switchover', 1000, null)])[0]?.lost).toBeNull();
  });

  it("divides pgvigil's p50 by each peer's, per fault", () => {
    const cells = summarize([run('pgvigil', 'crash-primary', 5000), run('repmgr', 'crash-primary', 2000), run('patroni', 'crash-primary', 10_000), run('repmgr', 'switchover', 1000)]);
    expect(ratios(cells)).toEqual([
      { fault: 'crash-primary', peer: 'repmgr', ratio: 2.5 },
      { fault: 'crash-primary', peer: 'patroni', ratio: 0.5 },
    ]);
  });

  it('has no ratio where a side has no figure', () => {
    const cells = summarize([run('pgvigil', 'switchover', null), run('repmgr', 'switchover', 1000)]);
    expect(ratios(cells)).toEqual([{ fault: 'switchover', peer: 'repmgr', ratio: null }]);
  });

  it('renders the table with p50 (max), the outage, ok runs, lost writes and the ratios', () => {
    const text = renderTable(summarize([run('pgvigil', 'crash-primary', 4000), run('repmgr', 'crash-primary', 2000)]));
    expect(text).toContain('| pgvigil | **4.00 s** (4.00 s) · 4.00 s · 1/1 · 0 |');
    expect(text).toContain('| crash-primary | 2.00× |');
  });
});

describe("pgvigil's steps", () => {
  const disconnect = (node_id: number, at_ms: number) => ({ at_ms, node_id, event: 'repmgrd_upstream_disconnect' });

  it('times the observers by the second voter that saw the old primary gone, ignoring the old primary and later reports', () => {
    const events = [disconnect(1, 5), disconnect(2, 120), disconnect(2, 900), { at_ms: 40, node_id: 3, event: 'repmgrd_local_disconnect' }, disconnect(4, 650), disconnect(3, 300)];
    expect(observersMs(events, 1)).toBe(300);
  });

  it('has no observers figure while fewer than two voters reported', () => {
    expect(observersMs([disconnect(1, 5), disconnect(2, 120)], 1)).toBeNull();
  });

  it('prints every step in order, a dash for those that did not happen', () => {
    expect(stepsLine({ detected: 20, observers: 300, saga_claimed: 1500, fenced: null, promoted: 2500, vip_moved: 2700, first_write_via_vip: 2750 })).toBe(
      'detected 20 ms, observers 300 ms, saga_claimed 1500 ms, fenced —, promoted 2500 ms, vip_moved 2700 ms, first_write_via_vip 2750 ms',
    );
  });
});

describe('the rounds', () => {
  it('rotates a list by the round number', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
  });

  it('runs every system × fault once per round, and no system goes first twice in a row', () => {
    const systems = ['pgvigil', 'repmgr', 'patroni'] as const;
    const faults = ['crash-primary', 'switchover'] as const;
    for (let round = 0; round < 3; round++) {
      const plan = roundPlan(systems, faults, round);
      expect(plan).toHaveLength(6);
      expect(new Set(plan.map((p) => `${p.system}/${p.fault}`)).size).toBe(6);
    }
    expect(roundPlan(systems, faults, 0)[0]?.system).toBe('pgvigil');
    expect(roundPlan(systems, faults, 1)[0]?.system).toBe('repmgr');
  });
});

describe('the command line', () => {
  it('defaults to 2 rounds of every system and fault', () => {
    expect(parseBenchArgs([])).toEqual({ rounds: 2, systems: ['pgvigil', 'repmgr', 'patroni', 'pg_auto_failover'], faults: ['crash-primary', 'kill-primary-host', 'switchover'], json: false });
  });

  it('takes rounds, systems, faults and --json', () => {
    expect(parseBenchArgs(['2', '--systems', 'repmgr,pgvigil', '--faults', 'switchover', '--json'])).toEqual({ rounds: 2, systems: ['pgvigil', 'repmgr'], faults: ['switchover'], json: true });
  });

  it('says which argument is wrong', () => {
    expect(() => parseBenchArgs(['--systems', 'stolon'])).toThrow('--systems: unknown "stolon"; choose from pgvigil, repmgr, patroni, pg_auto_failover');
    expect(() => parseBenchArgs(['--faults'])).toThrow('--faults needs a comma-separated list');
    expect(() => parseBenchArgs(['0'])).toThrow('unexpected argument "0"');
    expect(() => parseBenchArgs(['2', '3'])).toThrow('unexpected argument "3"');
  });
});

describe('the peers installer', () => {
  it('asks for the packages of the systems whose binaries are missing, once each', () => {
    const present = new Set(['/usr/lib/postgresql/15/bin/repmgr', '/usr/lib/postgresql/15/bin/repmgrd', '/usr/bin/patroni']);
    expect(missingPackages(['repmgr', 'patroni', 'pg_auto_failover'], (p) => present.has(p))).toEqual(['patroni', 'python3-etcd', 'etcd-server', 'etcd-client', 'postgresql-15-auto-failover']);
    expect(missingPackages(['repmgr'], (p) => present.has(p))).toEqual([]);
  });
});
