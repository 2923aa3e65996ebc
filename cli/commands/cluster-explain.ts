/**
 * `pgvigil cluster explain --snapshot FILE [--now ISO-TIME] [--json]`: what the decision engine
 * decides for a captured cluster state, and why. The same `decide()` the evaluator Lambda runs.
 * Without `--snapshot`, the live form: the cluster is read from the state table (one strongly
 * consistent read, as the evaluator does) and explained the same way. With `--at TIME`, the
 * flight recorder's form: the decision the controller made then, with its own sentences and the
 * snapshot it decided on (docs/operations.md, "Flight recorder").
 */
import { writeFile } from 'node:fs/promises';
import type { Decision } from '../../core/decision.js';
import { decide } from '../../core/engine/index.js';
import { FLIGHT_RECORDER_TTL_SECS } from '../../core/flight-recorder.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { aws, clusterOption, loadCluster, openTarget } from '../context.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { renderExplanation } from '../render/explain.js';
import { parseNow, readSnapshotFile } from '../snapshot-file.js';

export const clusterExplainCommand = defineCommand({
  words: ['cluster', 'explain'],
  summary: 'show what the decision engine would decide for a cluster state, and why',
  usage: 'cluster explain [--snapshot FILE | --at ISO-TIME] [--now ISO-TIME] [--save FILE] [--json] [--cluster ID]',
  examples: [
    'pgvigil cluster explain --cluster orders',
    'pgvigil cluster explain --cluster orders --at 2026-12-07T03:12:00Z',
    'pgvigil cluster explain --at 2026-12-07T03:12:00Z --save failover-0312.json',
    'pgvigil cluster explain --snapshot examples/snapshots/primary-server-crashed.json',
    'pgvigil cluster explain --snapshot captured.json --now 2026-01-15T12:00:30Z --json',
  ],
  options: {
    snapshot: { type: 'string', description: 'cluster snapshot file (JSON, see docs/snapshot-format.md)' },
    now: { type: 'string', description: 'controller time to decide at (default: the file\'s "now", else the current time)' },
    json: { type: 'boolean', description: 'print the decision as JSON' },
    at: { type: 'string', description: 'the decision the controller made at ISO-TIME (the last one kept at or before it), from the flight recorder' },
    save: { type: 'string', description: 'live and --at forms: also write the cluster state to FILE, for a later "--snapshot FILE"' },
    ...clusterOption,
  },
  async run(ctx) {
    const file = opt.string(ctx, 'snapshot');
    const nowOption = opt.string(ctx, 'now');
    const explicitNow = nowOption === undefined ? null : parseNow(nowOption);
    const atOption = opt.string(ctx, 'at');
    if (atOption !== undefined) {
      if (file !== undefined || nowOption !== undefined) {
        throw new PgvigilError('BAD_ARGUMENT', 'option --at cannot be combined with --snapshot or --now', {
          hint: '--at shows what the controller decided then; "--snapshot FILE --now TIME" decides a saved state again',
        });
      }
      return explainAt(ctx, parseNow(atOption, '--at'));
    }
    if (file === undefined) return explainLive(ctx, explicitNow);
    if (file === '') {
      throw new PgvigilError('BAD_ARGUMENT', 'option --snapshot needs a file name', {
        hint: 'capture a cluster state as JSON (docs/snapshot-format.md) or try one of examples/snapshots/',
      });
    }
    const parsed = await readSnapshotFile(file);
    const now = explicitNow ?? parsed.now ?? Date.now();
    const decision = decide(parsed.snapshot, now);
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(JSON.stringify({ now: new Date(now).toISOString(), decision }, null, 2));
      return ExitCode.SUCCESS;
    }
    if (parsed.description) ctx.out.info(parsed.description);
    for (const line of renderExplanation(decision, parsed.snapshot, { now })) ctx.out.print(line);
    return ExitCode.SUCCESS;
  },
});

/** The live form: the cluster as the state table holds it now, decided at the CLI's clock (or --now). */
async function explainLive(ctx: CommandContext, explicitNow: number | null): Promise<number> {
  const target = await openTarget(ctx);
  const { snapshot, rejected } = await loadCluster(target);
  const now = explicitNow ?? target.now();
  const decision = decide(snapshot, now);
  await saveSnapshot(ctx, { description: `cluster "${target.clusterId}" read from table "${target.tableName}"`, now: new Date(now).toISOString(), snapshot });
  if (opt.flag(ctx, 'json')) {
    ctx.out.print(JSON.stringify({ now: new Date(now).toISOString(), cluster_id: target.clusterId, decision, rejected_heartbeats: rejected }, null, 2));
    return ExitCode.SUCCESS;
  }
  for (const r of rejected) {
    ctx.out.warning(`a heartbeat stored for ${r.node_id === null ? 'an unknown node' : `node ID ${r.node_id}`} was rejected and is not used: ${r.errors.join('; ')}`);
  }
  for (const line of renderExplanation(decision, snapshot, { now })) ctx.out.print(line);
  return ExitCode.SUCCESS;
}

/** `--save FILE`: writes a snapshot file (docs/snapshot-format.md) that `--snapshot FILE` reads. */
async function saveSnapshot(ctx: CommandContext, captured: { description: string; now: string; expect?: { code: string; reason: string }; snapshot: ClusterSnapshot }): Promise<void> {
  const save = opt.string(ctx, 'save');
  if (save === undefined || save === '') return;
  await writeFile(save, `${JSON.stringify(captured, null, 2)}\n`, { mode: 0o600 }).catch((error: unknown) => {
    throw new PgvigilError('BAD_INPUT', `could not write snapshot file "${save}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  });
  ctx.out.info(`cluster state saved to "${save}"`);
}

/** The flight recorder's form: the decision kept at or before `at`, printed as it was made. */
async function explainAt(ctx: CommandContext, at: number): Promise<number> {
  const target = await openTarget(ctx);
  const [{ DynamoDBClient }, { DynamoFlightRecorder }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../../adapters/dynamo-flight-recorder.js')]);
  const recorder = new DynamoFlightRecorder(new DynamoDBClient({ ...target.awsConfig, maxAttempts: 3 }), target.tableName);
  const asked = new Date(at).toISOString();
  const kept = await aws(target, () => recorder.at(target.clusterId, at));
  if (!kept) {
    throw new PgvigilError('NOT_FOUND', `the flight recorder holds no decision of cluster "${target.clusterId}" at or before ${asked}`, {
      detail: `decisions that are not "healthy" are kept for ${FLIGHT_RECORDER_TTL_SECS / 86_400} days; none was made (or kept) before that time`,
      hint: 'without --at, "cluster explain" decides the state the table holds now',
    });
  }
  const decided = new Date(kept.decided_at).toISOString();
  const { decision, snapshot } = kept;
  if (opt.flag(ctx, 'json')) {
    if (snapshot) await saveSnapshot(ctx, savedFrom(target.clusterId, kept.decided_at, decision, snapshot));
    ctx.out.print(JSON.stringify({ at: asked, decided_at: decided, cluster_id: target.clusterId, decision, snapshot }, null, 2));
    return ExitCode.SUCCESS;
  }
  const ago = Math.round((at - kept.decided_at) / 1000);
  ctx.out.info(`the decision made at ${decided}${ago > 0 ? `, ${ago} s before ${asked}` : ''}, as the controller kept it`);
  if (!snapshot) {
    // The marker that ends a run of unhealthy decisions: nothing more was kept until the next record.
    ctx.out.print(`Cluster "${target.clusterId}" at ${decided}: healthy again`);
    ctx.out.print(`Decision: ${decision.code}`);
    for (const r of decision.reasons) ctx.out.print(`  ${r}`);
    if (opt.string(ctx, 'save')) ctx.out.warning('no cluster state is kept for a healthy decision: nothing saved');
    return ExitCode.SUCCESS;
  }
  await saveSnapshot(ctx, savedFrom(target.clusterId, kept.decided_at, decision, snapshot));
  for (const line of renderExplanation(decision, snapshot, { now: kept.decided_at })) ctx.out.print(line);
  return ExitCode.SUCCESS;
}

function savedFrom(clusterId: string, decidedAt: number, decision: Decision, snapshot: ClusterSnapshot): Parameters<typeof saveSnapshot>[1] {
  return {
    description: `cluster "${clusterId}" as the flight recorder kept it: the controller decided "${decision.code}" at ${new Date(decidedAt).toISOString()}`.slice(0, 1000),
    now: new Date(decidedAt).toISOString(),
    expect: { code: decision.code, reason: (decision.reasons[0] ?? '').slice(0, 1000) },
    snapshot,
  };
}
