/**
 * The switchover Lambda, invoked by the SSM Automation document and by `pgvigil standby
 * switchover`: `{cluster_id, candidate_node_id, siblings_follow, dry_run}` → checks (dry run) or
 * the switchover's outcome.
 */
import type { Context } from 'aws-lambda';
import type { ControllerDeps } from '../controller.js';
import { buildDeps, invocationFrom, readEnvironment } from '../environment.js';
import { switchoverEntry } from '../switchover-entry.js';
import { parseSwitchoverRequest, type SwitchoverResponse } from '../switchover.js';

let deps: ControllerDeps | undefined;

export function setControllerDeps(value: ControllerDeps | undefined): void {
  deps = value;
}

export const handler = async (event: unknown, context?: Context): Promise<SwitchoverResponse> => {
  const request = parseSwitchoverRequest(event); // bad input: a clear error, nothing changed
  deps ??= buildDeps(readEnvironment());
  try {
    return await switchoverEntry(deps, invocationFrom(context), request);
  } finally {
    deps.metrics.flush();
  }
};
