/**
 * The switchover Lambda, invoked by the SSM Automation document and by `pgvigil standby
 * switchover`: `{cluster_id, candidate_node_id, siblings_follow, dry_run}` → checks (dry run) or
 * the switchover's outcome.
 */
import type { ControllerDeps } from '../controller.js';
import { fromEnvironment, invocationFrom, type Handler } from '../environment.js';
import { switchoverEntry } from '../switchover-entry.js';
import { parseSwitchoverRequest, type SwitchoverResponse } from '../switchover.js';

/** The switchover function on `deps` (the sandbox's endpoint and the tests hand it theirs). */
export function switchoverHandler(deps: ControllerDeps): Handler<SwitchoverResponse> {
  return async (event, context) => {
    const request = parseSwitchoverRequest(event); // bad input: a clear error, nothing changed
    try {
      return await switchoverEntry(deps, invocationFrom(context), request);
    } finally {
      deps.metrics.flush();
    }
  };
}

export const handler = fromEnvironment(switchoverHandler);
