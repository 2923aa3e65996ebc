/**
 * The evaluator Lambda: a DynamoDB Stream batch (records filtered by core/stream-filter) or the
 * scheduled sweep (an EventBridge Scheduler / Events payload). Parses, builds adapters once per
 * cold start, calls the core (functions/evaluator.ts), returns.
 */
import type { Context, DynamoDBBatchResponse } from 'aws-lambda';
import type { ControllerDeps } from '../controller.js';
import { buildDeps, invocationFrom, readEnvironment } from '../environment.js';
import { handleStreamBatch, sweep, type SweepResult } from '../evaluator.js';

let deps: ControllerDeps | undefined;

/** For tests and the local runtime: use these adapters instead of the environment's. */
export function setControllerDeps(value: ControllerDeps | undefined): void {
  deps = value;
}

function controller(): ControllerDeps {
  deps ??= buildDeps(readEnvironment());
  return deps;
}

export function isStreamEvent(event: unknown): event is { Records: unknown[] } {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}

export const handler = async (event: unknown, context?: Context): Promise<DynamoDBBatchResponse | SweepResult> => {
  const d = controller();
  const inv = invocationFrom(context);
  try {
    if (isStreamEvent(event)) {
      const { batchItemFailures } = await handleStreamBatch(d, inv, event as Parameters<typeof handleStreamBatch>[2]);
      return { batchItemFailures };
    }
    const result = await sweep(d, inv);
    if (result.failed.length > 0) {
      // Surface as a Lambda error so the "evaluator errors" alarm sees it; every other cluster was evaluated.
      throw new Error(`sweep: ${result.failed.length} of ${result.clusters} cluster evaluations failed: ${result.failed.map((f) => `${f.cluster_id}: ${f.error}`).join('; ')}`);
    }
    return result;
  } finally {
    d.metrics.flush();
  }
};
