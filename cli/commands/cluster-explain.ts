/**
 * `pgvigil cluster explain --snapshot FILE [--now ISO-TIME] [--json]`: what the decision engine
 * decides for a captured cluster state, and why. The same `decide()` the evaluator Lambda runs.
 */
import { readFile } from 'node:fs/promises';
import { decide } from '../../core/engine/index.js';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { defineCommand, opt } from '../framework.js';
import { renderExplanation } from '../render/explain.js';
import { parseNow, parseSnapshotFile } from '../snapshot-file.js';

export const clusterExplainCommand = defineCommand({
  words: ['cluster', 'explain'],
  summary: 'show what the decision engine would decide for a cluster state, and why',
  usage: 'cluster explain --snapshot FILE [--now ISO-TIME] [--json]',
  examples: [
    'pgvigil cluster explain --snapshot examples/snapshots/primary-server-crashed.json',
    'pgvigil cluster explain --snapshot captured.json --now 2026-01-15T12:00:30Z --json',
  ],
  options: {
    snapshot: { type: 'string', description: 'cluster snapshot file (JSON, see docs/snapshot-format.md)' },
    now: { type: 'string', description: 'controller time to decide at (default: the file\'s "now", else the current time)' },
    json: { type: 'boolean', description: 'print the decision as JSON' },
  },
  async run(ctx) {
    const file = opt.string(ctx, 'snapshot');
    if (file === undefined || file === '') {
      throw new PgvigilError('BAD_ARGUMENT', 'option --snapshot is required', {
        hint: 'capture a cluster state as JSON (docs/snapshot-format.md) or try one of examples/snapshots/',
      });
    }
    const nowOption = opt.string(ctx, 'now');
    const explicitNow = nowOption === undefined ? null : parseNow(nowOption);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new PgvigilError('BAD_INPUT', `could not read snapshot file "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const parsed = parseSnapshotFile(text, file);
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
