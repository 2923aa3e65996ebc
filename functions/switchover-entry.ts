/**
 * What the switchover function runs for a request (the Lambda handler, the CLI's in-process invoker,
 * the SSM Automation document through the handler): a promotion by hand under the failover saga
 * (functions/manual-failover.ts), or a switchover whose follow-ups it drives with the evaluator's own
 * evaluation before it answers (functions/switchover.ts). Kept apart from both so neither imports
 * the evaluator, which starts scheduled switchovers (functions/scheduled-switchover.ts).
 */
import type { ControllerDeps, Invocation } from './controller.js';
import { evaluateCluster } from './evaluator.js';
import { runManualFailover } from './manual-failover.js';
import { runSwitchover, type SwitchoverRequest, type SwitchoverResponse } from './switchover.js';

export async function switchoverEntry(deps: ControllerDeps, inv: Invocation, request: SwitchoverRequest): Promise<SwitchoverResponse> {
  if (request.failover === true) return runManualFailover(deps, inv, request);
  return runSwitchover(deps, inv, request, evaluateCluster);
}
