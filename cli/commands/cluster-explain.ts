/**
 * `pgvigil cluster explain --snapshot FILE [--now ISO-TIME] [--json]`: what the decision engine
 * decides for a captured cluster state, and why. The same `decide()` the evaluator Lambda runs.
 * Without `--snapshot`, the live form: the cluster is read from the state table (one strongly
 * consistent read, as the evaluator does) and explained the same way.
 */
import { writeFile } from 'node:fs/promises';
import { decide } from '../../core/engine/index.js';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { clusterOption, loadCluster, openTarget } from '../context.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { renderExplanation } from '../render/explain.js';
import { parseNow, readSnapshotFile } from '../snapshot-file.js';

export const clusterExplainCommand = defineCommand({
  words: ['cluster', 'explain'],
  summary: 'show what the decision engine would decide for a cluster state, and why',
  usage: 'cluster explain [--snapshot FILE] [--now ISO-TIME] [--json] [--cluster ID]',
  examples: [
    'pgvigil cluster explain --cluster orders',
    'pgvigil cluster explain --snapshot examples/snapshots/primary-server-crashed.json',
    'pgvigil cluster explain --snapshot captured.json --now 2026-01-15T12:00:30Z --json',
  ],
  options: {
    snapshot: { type: 'string', description: 'cluster snapshot file (JSON, see docs/snapshot-format.md)' },
    now: { type: 'string', description: 'controller time to decide at (default: the file\'s "now", else the current time)' },
    json: { type: 'boolean', description: 'print the decision as JSON' },
    save: { type: 'string', description: 'live form: also write the cluster state read to FILE, for a later "--snapshot FILE"' },
    ...clusterOption,
  },
  async run(ctx) {
    const file = opt.string(ctx, 'snapshot');
    const nowOption = opt.string(ctx, 'now');
    const explicitNow = nowOption === undefined ? null : parseNow(nowOption);
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
  const save = opt.string(ctx, 'save');
  if (save !== undefined && save !== '') {
    const captured = { description: `cluster "${target.clusterId}" read from table "${target.tableName}"`, now: new Date(now).toISOString(), snapshot };
    await writeFile(save, `${JSON.stringify(captured, null, 2)}\n`, { mode: 0o600 }).catch((error: unknown) => {
      throw new PgvigilError('BAD_INPUT', `could not write snapshot file "${save}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    });
    ctx.out.info(`cluster state saved to "${save}"`);
  }
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
