import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoFlightRecorder } from '../../adapters/dynamo-flight-recorder.js';
import { FLIGHT_RECORDER_TTL_SECS } from '../../core/flight-recorder.js';
import { keys } from '../../core/table.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { cliHarness, type CliHarness } from '../support/cli-cluster.js';
import { ControllerFixture, invocation } from '../support/controller-fixture.js';
import { SnapshotBuilder, withClusterId } from '../support/snapshot-builder.js';

let f: ControllerFixture;
let h: CliHarness;
let dir: string;

beforeAll(async () => {
  f = await ControllerFixture.start();
  h = await cliHarness(f.moto);
  dir = mkdtempSync(join(tmpdir(), 'pgvigil-recorder-'));
});
afterAll(async () => {
  await f?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// One recorder, as one Lambda container has: it remembers what it kept last.
let recorder: DynamoFlightRecorder;
const deps = () => f.deps({ recorder: (recorder ??= new DynamoFlightRecorder(f.ddb, f.table)) });
const explain = (id: string, argv: string[]) => h.run(id, ['cluster', 'explain', ...argv], { env: { ...h.env(id), PGVIGIL_TABLE: f.table } });
const iso = (ms: number): string => new Date(ms).toISOString();

async function kept(id: string): Promise<{ code: string; expires_at: number; decided_at: number }[]> {
  const page = await f.ddb.send(
    new QueryCommand({
      TableName: f.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: marshall({ ':pk': keys.partition(id), ':p': keys.prefix.decision }),
    }),
  );
  return (page.Items ?? []).map((i) => ({ code: i.code?.S ?? '', expires_at: Number(i.expires_at?.N), decided_at: Number(i.decided_at?.N) }));
}

/** A paused cluster whose primary crashed: the engine reports the failover it would make, nothing is done. */
async function pausedCrash(id: string): Promise<void> {
  const b = new SnapshotBuilder({ now: f.clock.now() }).crashPrimary().cluster({ paused: true });
  await f.seed(withClusterId(b.build(), id));
}

describe('the flight recorder', () => {
  it('keeps the snapshot behind a decision that is not healthy, with the table TTL, and only once while it repeats', async () => {
    await pausedCrash('rec-1');
    const first = await evaluateCluster(deps(), invocation(), 'rec-1');
    expect(first.code).toBe('report_only');
    await evaluateCluster(deps(), invocation(), 'rec-1');
    const items = await kept('rec-1');
    expect(items.map((i) => i.code)).toEqual(['report_only']);
    expect(items[0]?.expires_at).toBe(Math.floor((items[0]?.decided_at ?? 0) / 1000) + FLIGHT_RECORDER_TTL_SECS);
  });

  it('answers "cluster explain --at" with the sentences the engine printed then', async () => {
    await pausedCrash('rec-2');
    const result = await evaluateCluster(deps(), invocation(), 'rec-2');
    const [item] = await kept('rec-2');
    const decidedAt = item?.decided_at ?? 0;
    const out = await explain('rec-2', ['--at', iso(decidedAt + 30_000)]);
    expect(out.code).toBe(0);
    expect(out.stderr).toEqual([`INFO: the decision made at ${iso(decidedAt)}, 30 s before ${iso(decidedAt + 30_000)}, as the controller kept it`]);
    expect(out.stdout[0]).toBe(`Cluster "rec-2" at ${iso(decidedAt)}: term 3, primary node 1 (pg1), paused`);
    expect(out.stdout[1]).toBe('Decision: report_only');
    expect(out.stdout[2]).toBe(`  ${result.reasons[0]}`);
    for (const reason of result.reasons.slice(1)) expect(out.stdout.some((l) => l.endsWith(reason))).toBe(true);
  });

  it('exports the kept state with --save as a snapshot file that "--snapshot" explains the same way', async () => {
    await pausedCrash('rec-3');
    await evaluateCluster(deps(), invocation(), 'rec-3');
    const [item] = await kept('rec-3');
    const file = join(dir, 'rec-3.json');
    const at = await explain('rec-3', ['--at', iso((item?.decided_at ?? 0) + 1), '--save', file]);
    expect(at.code).toBe(0);
    expect(at.stderr).toContain(`INFO: cluster state saved to "${file}"`);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { expect: { code: string }; now: string };
    expect(saved.expect.code).toBe('report_only');
    expect(saved.now).toBe(iso(item?.decided_at ?? 0));
    const offline = await explain('rec-3', ['--snapshot', file]);
    expect(offline.code).toBe(0);
    expect(offline.stdout).toEqual(at.stdout);
  });

  it('keeps a marker when the cluster is healthy again, and "--at" after it says so', async () => {
    const id = 'rec-4';
    await pausedCrash(id);
    await evaluateCluster(deps(), invocation(), id);
    await f.patchHeartbeat(id, 1, (hb) => ({ ...hb, server: hb.server && { ...hb.server, postmaster_running: true, accepting_connections: true, down_since: null, last_accepting_at: f.clock.now() } }));
    const healthy = await evaluateCluster(deps(), invocation(), id);
    expect(healthy.code).toBe('healthy');
    const items = await kept(id);
    expect(items.map((i) => i.code)).toEqual(['report_only', 'healthy']);
    const out = await explain(id, ['--at', iso((items[1]?.decided_at ?? 0) + 1)]);
    expect(out.code).toBe(0);
    expect(out.stdout.slice(0, 2)).toEqual([`Cluster "${id}" at ${iso(items[1]?.decided_at ?? 0)}: healthy again`, 'Decision: healthy']);
  });

  it('exits 1 naming the time when nothing was kept at or before it', async () => {
    const out = await explain('rec-1', ['--at', '2020-01-01T00:00:00Z']);
    expect(out.code).toBe(1);
    expect(out.stderr[0]).toBe('ERROR: the flight recorder holds no decision of cluster "rec-1" at or before 2020-01-01T00:00:00.000Z');
  });

  it('refuses --at with --snapshot, and a time it cannot read, changing nothing', async () => {
    const both = await explain('rec-1', ['--at', '2026-01-01T00:00:00Z', '--snapshot', 'x.json']);
    expect(both.code).toBe(1);
    expect(both.stderr[0]).toBe('ERROR: option --at cannot be combined with --snapshot or --now');
    const bad = await explain('rec-1', ['--at', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr[0]).toMatch(/^ERROR: option --at expects an ISO-8601 time/);
  });
});
