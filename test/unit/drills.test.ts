import { describe, expect, it } from 'vitest';
import { PgvigilError } from '../../core/errors.js';
import { DRILL_NAMES, SCENARIOS, judge, scenario, type DrillResult } from '../../sandbox/drills/index.js';

function result(over: Partial<DrillResult>): DrillResult {
  return {
    scenario: 'crash-primary',
    ok: true,
    problems: [],
    mode: 'netns',
    old_primary: 'node1',
    new_primary: 'node2',
    failover_expected: true,
    failover_happened: true,
    term_before: 1,
    term_after: 2,
    timings_ms: { detected: 900, saga_claimed: 1000, fenced: 1200, promoted: 1900, vip_moved: 2100, first_write_via_vip: 2150 },
    write_outage_ms: 2200,
    acked_writes: 100,
    acked_writes_lost: 0,
    direct_acked_writes: 80,
    direct_acked_writes_lost: 0,
    route_acked_writes: 90,
    route_acked_writes_lost: 0,
    route_write_outage_ms: 2300,
    max_writable_primaries: 1,
    old_primary_state: 'fenced',
    vip_target: 'node2',
    promotions: 1,
    events: [],
    notifications: [],
    notes: [],
    ...over,
  };
}

describe('the drill scenarios', () => {
  it('has one scenario per name, failover expected exactly for the failover drills', () => {
    expect(Object.keys(SCENARIOS).sort()).toEqual([...DRILL_NAMES].sort());
    const noFailover = DRILL_NAMES.filter((n) => !SCENARIOS[n].failoverExpected).sort();
    expect(noFailover).toEqual(['control-plane-outage', 'flapping', 'partition-witness', 'primary-cut-from-aws', 'stop-agent']);
  });

  it('refuses an unknown scenario name with the list of names', () => {
    expect(() => scenario('crash-everything')).toThrow(PgvigilError);
    try {
      scenario('crash-everything');
    } catch (error) {
      expect((error as PgvigilError).code).toBe('BAD_ARGUMENT');
      expect((error as PgvigilError).message).toContain('"crash-everything"');
      expect((error as PgvigilError).hint).toContain('kill-controller-mid-saga');
    }
  });
});

describe('the drill verdict', () => {
  const crash = SCENARIOS['crash-primary'];

  it('passes a failover that moved the VIP, lost nothing and left the old primary fenced', () => {
    expect(judge(result({}), crash)).toEqual([]);
  });

  it('fails a drill that lost acknowledged writes or had two writable primaries', () => {
    const problems = judge(result({ acked_writes_lost: 2, max_writable_primaries: 2 }), crash);
    expect(problems).toEqual(['2 acknowledged writes through the VIP lost', '2 nodes accepted writes at the same moment']);
  });

  it('fails a failover drill whose VIP stayed behind or whose old primary is still writable', () => {
    const problems = judge(result({ vip_target: 'node1', old_primary_state: 'primary' }), crash);
    expect(problems).toContain('the VIP points at node1, not at the primary node2');
    expect(problems).toContain('the old primary node1 is primary, expected fenced or stopped or standby_streaming');
  });

  it('fails a false failover under a drill that expects none', () => {
    const problems = judge(result({ scenario: 'flapping', old_primary_state: 'fenced' }), SCENARIOS.flapping);
    expect(problems[0]).toBe('a failover happened (term 1 → 2)');
  });

  it('fails a drill whose lost writes could not be counted, and a saga that promoted twice', () => {
    const problems = judge(result({ acked_writes_lost: null, promotions: 2 }), SCENARIOS['kill-controller-mid-saga']);
    expect(problems).toEqual(['the acknowledged writes could not be checked on the final primary', '2 promotions recorded for one fault']);
  });

  it('fails a drill that lost writes acknowledged through the writer route, or could not count them', () => {
    expect(judge(result({ route_acked_writes_lost: 3 }), crash)).toEqual(['3 acknowledged writes through the writer route lost']);
    expect(judge(result({ route_acked_writes_lost: null }), crash)).toEqual(['the writes acknowledged through the writer route could not be checked on the final primary']);
    expect(judge(result({ route_acked_writes: null, route_acked_writes_lost: null, route_write_outage_ms: null }), crash)).toEqual([]);
  });

  describe('with AWS cut from the hosts', () => {
    const outage = { ...SCENARIOS['control-plane-outage'], leaseMs: 5000, oldPrimaryId: 1 };
    const kept = (over: Partial<DrillResult>): DrillResult =>
      result({
        scenario: 'control-plane-outage',
        new_primary: 'node1',
        vip_target: 'node1',
        failover_happened: false,
        term_after: 1,
        old_primary_state: 'primary',
        write_outage_ms: 300,
        route_write_outage_ms: 400,
        events: [
          { at_ms: 3000, node_id: 1, event: 'failsafe_entered', successful: true, details: '' },
          { at_ms: 61000, node_id: 1, event: 'failsafe_left', successful: true, details: '' },
        ],
        ...over,
      });

    it('passes a primary that kept serving in failsafe and left it after the heal', () => {
      expect(judge(kept({}), outage)).toEqual([]);
    });

    it('fails writes that stopped for longer than the lease through either route', () => {
      expect(judge(kept({ write_outage_ms: 5001, route_write_outage_ms: 52000 }), outage)).toEqual([
        'writes through the VIP stopped for 5001 ms (more than the lease, 5000 ms)',
        'writes through the writer route stopped for 52000 ms (more than the lease, 5000 ms)',
      ]);
    });

    it("fails a primary that fenced or recorded no failsafe episode, and ignores other nodes' events", () => {
      const events = [
        { at_ms: 5000, node_id: 1, event: 'lease_lost', successful: true, details: '' },
        { at_ms: 3000, node_id: 2, event: 'failsafe_entered', successful: true, details: '' },
      ];
      expect(judge(kept({ events }), outage)).toEqual(['the primary recorded lease_lost', 'the primary recorded no failsafe_entered event', 'the primary recorded no failsafe_left event']);
    });
  });

  it('wants the old primary streaming after rejoin and switchover', () => {
    expect(judge(result({ scenario: 'rejoin' }), SCENARIOS.rejoin)).toEqual(['the old primary node1 is fenced, expected standby_streaming']);
    expect(judge(result({ scenario: 'rejoin', old_primary_state: 'standby_streaming' }), SCENARIOS.rejoin)).toEqual([]);
  });
});

describe('pgvigil sandbox drill', () => {
  it('refuses an unknown scenario before bringing anything up, naming the scenarios', async () => {
    const { runProgram } = await import('../../shell/framework.js');
    const { memoryOutput } = await import('../../shell/output.js');
    const program = (await import('../../cli/main.js')).cliProgram();
    const { existsSync } = await import('node:fs');
    const out = memoryOutput();
    const dir = '/nonexistent/pgvigil-drill-test';
    expect(await runProgram(program, ['sandbox', 'drill', '--scenario', 'meteor-strike', '--dir', dir], out, {})).toBe(1);
    expect(out.stderr[0]).toBe('ERROR: unknown drill scenario "meteor-strike"');
    expect(out.stderr.join('\n')).toContain('HINT: choose one of: crash-primary, kill-primary-host, partition-primary');
    expect(existsSync(dir)).toBe(false);
  });
});

describe('the drill socket of a running sandbox', () => {
  it('answers a request for an unknown scenario with a clear error, and a directory without a socket is named', async () => {
    const { mkdtempSync, rmSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { serveDrills, requestDrill } = await import('../../sandbox/drills/server.js');
    const dir = mkdtempSync(join(tmpdir(), 'pgv-drill-sock-'));
    try {
      await expect(requestDrill(dir, 'crash-primary')).rejects.toThrow(`the sandbox in ${dir} serves no drills (no drill.sock)`);
      const stop = await serveDrills({ dir } as never);
      await expect(requestDrill(dir, 'meteor-strike')).rejects.toMatchObject({ code: 'BAD_ARGUMENT', message: 'drill meteor-strike: unknown drill scenario "meteor-strike"' });
      await stop();
      expect(existsSync(join(dir, 'drill.sock'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
