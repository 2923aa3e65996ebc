/**
 * The host-events Lambda: the EventBridge rules on AWS Health scheduled changes of EC2 instances
 * and on EC2 Spot interruption warnings and rebalance recommendations deliver here. Parses the
 * event, builds adapters once per cold start, calls functions/host-events.ts, returns.
 */
import { PgvigilError } from '../../core/errors.js';
import { parseHostEvent } from '../../core/host-events.js';
import type { ControllerDeps } from '../controller.js';
import { errorText } from '../controller.js';
import { fromEnvironment, invocationFrom, type Handler } from '../environment.js';
import { handleHostEvent, type HostEventResult } from '../host-events.js';

/** The host-events handler on `deps` (the tests hand it theirs). */
export function hostEventsHandler(deps: ControllerDeps): Handler<HostEventResult | { rejected: string }> {
  return async (event, context) => {
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
}

export const handler = fromEnvironment(hostEventsHandler);
