/**
 * Events to an EventBridge bus (the optional `PGVIGIL_EVENT_BUS`, docs/controller.md): one entry per event,
 * `Source` "pgvigil", `DetailType` "pgvigil event", `Detail` the event record (cluster_id, node_id,
 * event, successful, timestamp, details, term) so rules can match on any field, e.g.
 * `{"source": ["pgvigil"], "detail": {"event": ["repmgrd_failover_promote"]}}`.
 *
 * PutEvents takes at most 10 entries and reports failures per entry (HTTP 200 with
 * `FailedEntryCount`), so a batch is sent in chunks of 10, and entries that failed for a transient
 * reason (throttling, an internal failure) are sent again with backoff; whatever still fails is
 * thrown as one PgvigilError('AWS') naming the events, as {@link SnsNotifier} does.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PgvigilError } from '../core/errors.js';
import type { EventRecord } from '../core/model.js';
import type { Clock, Notifier } from '../core/ports.js';
import { isRetryableAwsError, withAwsRetry, type RetryOptions } from './aws-retry.js';
import { systemClock } from './system-clock.js';

export const EVENT_SOURCE = 'pgvigil';
export const EVENT_DETAIL_TYPE = 'pgvigil event';
/** PutEvents' limit of entries per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;

/** Per-entry error codes worth sending again (AWS documents these as transient). */
const RETRYABLE_ENTRY = /Throttl|InternalFailure|InternalException|ServiceUnavailable/;

/**
 * The detail of an event: the event record's fields by name, nothing else. Event details are
 * written by pgvigil and hold no password; a `password=` or `user:password@` that slipped into
 * one anyway (a PostgreSQL error quoting a conninfo, say) is masked before it leaves.
 */
export function eventDetail(event: EventRecord): Record<string, unknown> {
  return {
    cluster_id: event.cluster_id,
    node_id: event.node_id,
    event: event.event,
    successful: event.successful,
    timestamp: event.timestamp,
    details: maskPasswords(event.details),
    term: event.term,
  };
}

export function maskPasswords(text: string): string {
  return text
    .replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi, '$1********')
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1********@');
}

export class EventBridgeNotifier implements Notifier {
  constructor(
    private readonly events: EventBridgeClient,
    /** The bus name or ARN. */
    private readonly eventBusName: string,
    private readonly clock: Clock = systemClock,
    private readonly retry: RetryOptions = {},
  ) {}

  async publish(event: EventRecord): Promise<void> {
    await this.publishAll([event]);
  }

  /** Publishes every event, 10 per PutEvents request. */
  async publishAll(events: readonly EventRecord[]): Promise<void> {
    const failures: string[] = [];
    let firstError: unknown;
    for (let i = 0; i < events.length; i += PUT_EVENTS_MAX_ENTRIES) {
      const chunk = events.slice(i, i + PUT_EVENTS_MAX_ENTRIES);
      try {
        await this.putChunk(chunk);
      } catch (error) {
        firstError ??= error;
        failures.push(...describeChunkFailure(chunk, error));
      }
    }
    if (failures.length === 0) return;
    const named = events.length === 1 && events[0] ? `event ${events[0].event} of cluster ${events[0].cluster_id}` : `${failures.length} of ${events.length} events`;
    throw new PgvigilError('AWS', `could not publish ${named} to event bus ${this.eventBusName}`, {
      cause: firstError,
      detail: failures.join('; '),
      retryable: isRetryableAwsError(firstError),
    });
  }

  /** Sends one chunk; entries that failed transiently are sent again until they pass or retries run out. */
  private async putChunk(chunk: readonly EventRecord[]): Promise<void> {
    let pending = chunk.map((event) => ({ event, entry: this.entryOf(event) }));
    await withAwsRetry(
      this.clock,
      async () => {
        const result = await this.events.send(new PutEventsCommand({ Entries: pending.map((p) => p.entry) }));
        if (!result.FailedEntryCount) {
          pending = [];
          return;
        }
        // Entries come back in request order; a failed one carries ErrorCode instead of EventId.
        const failed = pending.flatMap((p, k) => {
          const answer = result.Entries?.[k];
          return answer?.ErrorCode || !answer?.EventId ? [{ ...p, code: answer?.ErrorCode ?? 'Unknown', message: answer?.ErrorMessage ?? 'no event id returned' }] : [];
        });
        pending = failed.map(({ event, entry }) => ({ event, entry }));
        if (failed.length === 0) return;
        throw new PgvigilError('AWS', `PutEvents rejected ${failed.length} of ${result.Entries?.length ?? failed.length} entries`, {
          detail: failed.map((f) => `${f.event.event} (node ${f.event.node_id}): ${f.code}: ${f.message}`).join('; '),
          retryable: failed.every((f) => RETRYABLE_ENTRY.test(f.code)),
        });
      },
      this.retry,
    );
  }

  private entryOf(event: EventRecord): PutEventsRequestEntry {
    return {
      EventBusName: this.eventBusName,
      Source: EVENT_SOURCE,
      DetailType: EVENT_DETAIL_TYPE,
      Time: new Date(event.timestamp),
      Detail: JSON.stringify(eventDetail(event)),
    };
  }
}

function describeChunkFailure(chunk: readonly EventRecord[], error: unknown): string[] {
  if (error instanceof PgvigilError && error.detail) return error.detail.split('; ');
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return chunk.map((e) => `${e.event} (node ${e.node_id}): ${text}`);
}
