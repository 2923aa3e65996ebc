/**
 * One notifier that hands every event to several (the SNS topic and the optional EventBridge bus):
 * all are tried, concurrently, and one failing does not keep the event from the others. If any
 * failed, the error names each that did (recordEvent logs it; the stored event is the record).
 */
import { PgvigilError } from '../core/errors.js';
import type { EventRecord } from '../core/model.js';
import type { Notifier } from '../core/ports.js';

export function fanOutNotifier(notifiers: readonly Notifier[]): Notifier {
  if (notifiers.length === 1 && notifiers[0]) return notifiers[0];
  return {
    async publish(event: EventRecord): Promise<void> {
      const results = await Promise.allSettled(notifiers.map((n) => n.publish(event)));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (errors.length === 0) return;
      if (errors.length === 1) throw errors[0];
      const text = (e: unknown): string =>
        e instanceof PgvigilError && e.detail ? `${e.message}: ${e.detail}` : e instanceof Error ? e.message : String(e);
      throw new PgvigilError('AWS', `could not publish event ${event.event} of cluster ${event.cluster_id} to ${errors.length} of ${notifiers.length} destinations`, {
        cause: errors[0],
        detail: errors.map(text).join('; '),
        retryable: errors.some((e) => e instanceof PgvigilError && e.retryable),
      });
    },
  };
}
