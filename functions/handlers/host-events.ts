/**
 * The host-events Lambda: the EventBridge rules on AWS Health scheduled changes of EC2 instances
 * and on EC2 Spot interruption warnings and rebalance recommendations deliver here. Parses the
 * event, builds adapters once per cold start, calls functions/host-events.ts, returns.
 */
import type { Context } from 'aws-lambda';
import { PgvigilError } from '../../core/errors.js';
import { parseHostEvent } from '../../core/host-events.js';
import type { ControllerDeps } from '../controller.js';
import { errorText } from '../controller.js';
import { buildDeps, invocationFrom, readEnvironment } from '../environment.js';
import { handleHostEvent, type HostEventResult } from '../host-events.js';

let deps: ControllerDeps | undefined;

/** For tests and the local runtime: use these adapters instead of the environment's. */
export function setControllerDeps(value: ControllerDeps | undefined): void {
  deps = value;
}

export const handler = async (event: unknown, context?: Context): Promise<HostEventResult | { rejected: string }> => {
  deps ??= buildDeps(readEnvironment());
  try {
    let notice;
    try {
      notice = parseHostEvent(event);
    } catch (error) {
      // Bad input changes nothing and is not retried: EventBridge would only deliver it again.
      if (!(error instanceof PgvigilError)) throw error;
      deps.log.error('host event rejected', { error: errorText(error) });
      return { rejected: errorText(error) };
    }
    const result = await handleHostEvent(deps, invocationFrom(context), notice);
    deps.log.info('host event handled', { ...result });
    return result;
  } finally {
    deps.metrics.flush();
  }
};
