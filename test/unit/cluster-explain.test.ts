import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { program } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';
import { runProgram } from '../../shell/framework.js';
import { renderExplanation } from '../../cli/render/explain.js';
import { decide } from '../../core/engine/index.js';
import { golden } from '../support/cli-cluster.js';
import { clusterSnapshot } from '../support/snapshot-builder.js';

const examples = join(import.meta.dirname, '../../examples/snapshots');
const example = (name: string): string => join(examples, `${name}.json`);
const tmp = mkdtempSync(join(tmpdir(), 'pgvigil-explain-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function explain(...argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(program, ['cluster', 'explain', ...argv], out);
  return { code, stdout: out.stdout, stderr: out.stderr, text: out.stdout.join('\n') };
}

describe('pgvigil cluster explain', () => {
  it('explains a crashed primary with the decision, headline, reasons, actions and candidate table', async () => {
    const r = await explain('--snapshot', example('primary-server-crashed'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decision: failover');
    expect(r.stdout).toContain('  fail over from node 1 (pg1) to node 2 (pg2)');
    expect(r.text).toContain('Reasons:\n  1. the primary node 1 (pg1) reports that its PostgreSQL server is not running');
    expect(r.text).toContain('Actions:\n  - failover: fence node 1 (pg1), promote node 2 (pg2) and move the virtual IP to it; then node 3 (pg3) follows it');
    expect(r.stdout).toContain('   Node | Name    | Eligible | Receive LSN | Priority | Why');
    expect(r.stdout.find((l) => l.startsWith('   2    | pg2'))).toMatch(/\| yes +\| 0\/5000060 +\| 100 +\| eligible, ranked 1 of 2/);
    expect(r.stdout.find((l) => l.startsWith('   4    | witness'))).toMatch(/\| no +\| - +\| 0 +\| is a witness/);
    expect(r.stderr.join('\n')).toContain("INFO: The primary's PostgreSQL server crashed");
  });

  it('prints alarms and the events the controller would record', async () => {
    const r = await explain('--snapshot', example('witness-sees-primary'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decision: failover_cancelled');
    expect(r.text).toContain('Alarms:\n  - [primary_unreachable] node 1 (pg1) last sent a heartbeat 60 s ago');
    expect(r.text).toMatch(/Events to record:\n {2}- failover_cancelled \(node 1 \(pg1\), unsuccessful\): failover cancelled: node 4 \(witness\) reached the primary/);
  });

  it('shows what a paused cluster would have done as suppressed actions', async () => {
    const r = await explain('--snapshot', example('paused-cluster'));
    expect(r.stdout).toContain('Decision: report_only');
    expect(r.text).toContain('Suppressed actions (reported only, not carried out):\n  - failover: fence node 1 (pg1), promote node 2 (pg2)');
    expect(r.text).not.toContain('\nActions:');
  });

  it('judges the snapshot at --now instead of the time in the file', async () => {
    // Lease observed 5 s before the file's time: 20 s later it has aged past lease_secs + margin
    // (21 s), but by then every other heartbeat in the frozen snapshot is stale too: no quorum.
    const before = await explain('--snapshot', example('primary-silent-lease-fresh'));
    const later = await explain('--snapshot', example('primary-silent-lease-fresh'), '--now', '2026-01-15T12:00:20Z');
    expect(before.stdout).toContain('Decision: wait');
    expect(before.text).toContain('the lease is not expired');
    expect(later.stdout).toContain('Decision: failover_cancelled');
    expect(later.text).toContain('has not changed for 25 s on the controller clock');
    expect(later.text).toContain('no quorum (only 0 of 3 voters');
    expect(later.stdout[0]).toBe('Cluster "main" at 2026-01-15T12:00:20.000Z: term 3, primary node 1 (pg1)');
  });

  it('prints the decision as JSON with --json', async () => {
    const r = await explain('--snapshot', example('two-primaries'), '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.text) as { now: string; decision: { code: string; actions: unknown[] } };
    expect(doc.now).toBe('2026-01-15T12:00:00.000Z');
    expect(doc.decision.code).toBe('fence');
    expect(doc.decision.actions).toEqual([{ kind: 'fence', node_id: 3, reason: 'split_brain' }]);
  });

  it('accepts a bare snapshot without the wrapper and reports the lease observation to record', async () => {
    const b = clusterSnapshot().renewLease('rvn-0042');
    const file = join(tmp, 'bare.json');
    writeFileSync(file, JSON.stringify(b.build()));
    const r = await explain('--snapshot', file, '--now', new Date(b.now).toISOString());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decision: healthy');
    expect(r.stdout).toContain('Lease observation to record: RVN rvn-0042 first seen at 2026-01-15T12:00:00.000Z');
  });

  it('rejects a snapshot with a wrong field, naming the field, and exits 1', async () => {
    const doc = JSON.parse(readFileSync(example('healthy'), 'utf8')) as { snapshot: { nodes: Array<Record<string, unknown>>; cluster: Record<string, unknown> } };
    doc.snapshot.nodes[1]!.priority = 'abc';
    delete doc.snapshot.cluster.term;
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await explain('--snapshot', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toEqual([]);
    const err = r.stderr.join('\n');
    expect(err).toContain(`ERROR: ${file}: not a valid cluster snapshot (2 problems)`);
    expect(err).toMatch(/DETAIL: snapshot\.nodes\.1\.priority: .*number/);
    expect(err).toMatch(/DETAIL: snapshot\.cluster\.term: /);
  });

  it('rejects a bare snapshot\'s unknown top-level key', async () => {
    const file = join(tmp, 'bare-extra.json');
    writeFileSync(file, JSON.stringify({ ...clusterSnapshot().build(), captured_by: 'a script' }));
    const r = await explain('--snapshot', file);
    expect(r.code).toBe(1);
    expect(r.stderr.join('\n')).toContain('DETAIL: captured_by: unknown key');
  });

  it('rejects a file that is not JSON', async () => {
    const file = join(tmp, 'not-json.json');
    writeFileSync(file, '{ "cluster": ');
    const r = await explain('--snapshot', file);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toContain('not valid JSON');
  });

  it('rejects a missing file and a malformed --now with exit 1', async () => {
    const missing = await explain('--snapshot', join(tmp, 'nope.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr[0]).toContain('could not read snapshot file');
    expect(missing.stderr[0]).toContain('ENOENT');
    const badNow = await explain('--snapshot', example('healthy'), '--now', 'yesterday');
    expect(badNow.code).toBe(1);
    expect(badNow.stderr[0]).toContain('option --now expects an ISO-8601 time');
  });
});

describe('pgvigil cluster explain --snapshot on input that is not a snapshot', () => {
  type Doc = { snapshot: { cluster: { settings: Record<string, unknown> } } } & Record<string, unknown>;
  const overLag = (): Doc => JSON.parse(readFileSync(example('candidates-over-max-lag'), 'utf8')) as Doc;

  /** The command's output, compared with test/golden/cluster-explain/NAME (the temporary directory reads as <tmp>). */
  async function explainGolden(name: string, doc: unknown) {
    const file = join(tmp, name.replace(/\.txt$/, '.json'));
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
    const r = await explain('--snapshot', file);
    const scrub = (lines: string[]) => lines.map((l) => l.replaceAll(tmp, '<tmp>'));
    return { r, ...golden(`cluster-explain/${name}`, { code: r.code, stdout: scrub(r.stdout), stderr: scrub(r.stderr) }) };
  }

  it('finds no candidate when every standby is beyond maximum_lag_on_failover (the key spelt right), so restarts the primary in place', async () => {
    const file = join(tmp, 'over-lag.json');
    writeFileSync(file, JSON.stringify(overLag()));
    const r = await explain('--snapshot', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Decision: restart_primary');
    expect(r.text).toContain('(maximum_lag_on_failover=1048576)');
  });

  it('refuses a misspelt setting, naming the file and the key with its right spelling, and decides nothing', async () => {
    // Read with the default (no limit), the typo would fail over to node 2, 64 MB behind the primary.
    const doc = overLag();
    const { maximum_lag_on_failover: limit, ...settings } = doc.snapshot.cluster.settings;
    doc.snapshot.cluster.settings = { ...settings, maximum_lag_on_failure: limit };
    const { r, actual, expected } = await explainGolden('misspelt-setting.txt', doc);
    expect(r.code).toBe(1);
    expect(r.stdout).toEqual([]);
    expect(r.stderr.join('\n')).toContain(
      'DETAIL: snapshot.cluster.settings.maximum_lag_on_failure: unknown key (did you mean "maximum_lag_on_failover"?)',
    );
    expect(actual).toBe(expected);
  });

  it('refuses unknown top-level keys, naming each', async () => {
    const { r, actual, expected } = await explainGolden('unknown-keys.txt', { ...overLag(), comment: 'captured on Tuesday', snapshots: [] });
    expect(r.code).toBe(1);
    expect(r.stdout).toEqual([]);
    expect(actual).toBe(expected);
  });

  it('refuses a 10 MB file before parsing it, naming the file and the limit', async () => {
    const { r, actual, expected } = await explainGolden('too-large.txt', { ...overLag(), junk: 'x'.repeat(10 * 1024 * 1024) });
    expect(r.code).toBe(1);
    expect(r.stdout).toEqual([]);
    expect(r.stderr[0]).toMatch(/too-large\.json: 10\.\d MB is larger than a snapshot file may be \(4\.0 MB\)$/);
    expect(actual).toBe(expected);
  });

  it('names every wrong, missing and oversized field at once', async () => {
    const doc = overLag() as Doc & { snapshot: { nodes: Array<Record<string, unknown>>; heartbeats: Array<Record<string, unknown>> } };
    doc.description = 'd'.repeat(1001);
    doc.snapshot.nodes[1]!.priority = 'high';
    delete doc.snapshot.heartbeats[0]!.seq;
    doc.snapshot.cluster.settings.lease_secs = 0;
    const { r, actual, expected } = await explainGolden('wrong-fields.txt', doc);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DETAIL: description: expected at most 1000 characters, got 1001');
    expect(actual).toBe(expected);
  });
});

describe('renderExplanation', () => {
  it('leaves out empty sections for a healthy cluster', () => {
    const s = clusterSnapshot().build();
    const lines = renderExplanation(decide(s, clusterSnapshot().now), s);
    expect(lines[0]).toBe('Cluster "main": term 3, primary node 1 (pg1)');
    expect(lines[1]).toBe('Decision: healthy');
    for (const section of ['Actions:', 'Candidates:', 'Alarms:', 'Events to record:']) expect(lines).not.toContain(section);
  });

  it('shows the judgement of an operation in flight: its phase, the verdict, why, and what the engine would decide without it', () => {
    const b = clusterSnapshot()
      .crashPrimary()
      .server(2, { postmaster_running: false, accepting_connections: false })
      .cluster({ term: 4, operation: { id: 'op-1', kind: 'failover', term: 4, candidate_node_id: 2, old_primary_node_id: 1, step: 'rerank', owner: 'req-1', deadline: clusterSnapshot().now + 10_000, started_at: clusterSnapshot().now - 5000, data: {} } });
    const s = b.build();
    const lines = renderExplanation(decide(s, b.now), s);
    expect(lines[1]).toBe('Decision: end_operation');
    expect(lines).toContain('Operation in flight: failover op-1 (term 4) at step "rerank", before promotion');
    expect(lines).toContain('  verdict: end it (abort)');
    expect(lines).toContain('  - its candidate node 2 (pg2) reports that its PostgreSQL server is not running; no promote has been sent: abort this round, and the engine chooses again');
    expect(lines.some((l) => l.startsWith('  without it the engine would decide: failover — fail over from node 1 (pg1) to node 3 (pg3)'))).toBe(true);
    expect(lines).toContain('  - end operation op-1 (abort): its candidate node 2 (pg2) reports that its PostgreSQL server is not running; no promote has been sent: abort this round, and the engine chooses again');
  });
});
