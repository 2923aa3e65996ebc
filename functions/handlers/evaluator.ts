/**
 * The evaluator Lambda: a DynamoDB Stream batch (records filtered by core/stream-filter) or the
 * scheduled sweep (an EventBridge Scheduler / Events payload). Parses, builds adapters once per
 * cold start, calls the core (functions/evaluator.ts), returns.
 */
import type { DynamoDBBatchResponse } from 'aws-lambda';
import type { ControllerDeps } from '../controller.js';
import { fromEnvironment, invocationFrom, type Handler } from '../environment.js';
import { handleStreamBatch, sweep, type SweepResult } from '../evaluator.js';

export function isStreamEvent(event: unknown): event is { Records: unknown[] } {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}

/** The evaluator on `deps` (the sandbox's local runtime and the tests hand it theirs). */
export function evaluatorHandler(deps: ControllerDeps): Handler<DynamoDBBatchResponse | SweepResult> {
  return async (event, context) => {
    const inv = invocationFrom(context);
    try {
      if (isStreamEvent(event)) {
        const { batchItemFailures } = await handleStreamBatch(deps, inv, event as Parameters<typeof handleStreamBatch>[2]);
        return { batchItemFailures };
      }
      const result = await sweep(deps, inv);
      if (result.failed.length > 0) {
        // Surface as a Lambda error so the "evaluator errors" alarm sees it; every other cluster was evaluated.
        throw new Error(`sweep: ${result.failed.length} of ${result.clusters} cluster evaluations failed: ${result.failed.map((f) => `${f.cluster_id}: ${f.error}`).join('; ')}`);
      }
      return result;
    } finally {
      deps.metrics.flush();
    }
  };
}

export const handler = fromEnvironment(evaluatorHandler);
