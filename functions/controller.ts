/**
 * What the controller (evaluator, sagas, switchover) acts through. Handlers build one of these per
 * cold start from the environment; tests build theirs against moto, with a clock they control.
 */
import type { Decision } from '../core/decision.js';
import type { ClusterSettings, ClusterSnapshot, EventRecord } from '../core/model.js';
import type { EventName } from '../core/events.js';
import type { Clock, ClusterStateStore, FlightRecorder, HostCommands, InstanceFencer, Metrics, Notifier, RouteMover, VipMover } from '../core/ports.js';
import type { DnsRecord, RecordChange } from '../core/routes.js';
import type { Logger } from './log.js';

/** Bounds and pacing of the sagas. The cluster's settings give the PostgreSQL-side timeouts. */
export interface ControllerTimings {
  /** Between two reads of a node's heartbeat while waiting for it to show something. @default 1000 */
  pollIntervalMs: number;
  /** How long to wait for an SSM `fence` to be confirmed before falling back. @default 30000 */
  fenceWaitMs: number;
  /** How long to wait for `demote` (switchover) to report the final LSN. @default 60000 */
  demoteWaitMs: number;
  /** Pause before retrying a step that threw. @default 2000 */
  stepRetryDelayMs: number;
  /** Attempts of one step before the saga gives up on it (abort, or roll back). @default 3 */
  maxStepAttempts: number;
  /**
   * The saga owner's lease: its deadline is this far ahead of the clock and renewed every third of
   * it while the owner works; an owner that died is taken over once it has run out. @default 15000
   */
  ownerLeaseMs: number;
  /** A step is started only when the invocation has this much time left beyond the step's bound. @default 5000 */
  safetyMarginMs: number;
  /**
   * How long a rejoin waits for the agent of an instance it started (auto_rejoin of a node whose
   * instance a fence stopped): an EC2 boot with PostgreSQL takes well under it. @default 180000
   */
  bootWaitMs: number;
}

export const DEFAULT_TIMINGS: ControllerTimings = {
  pollIntervalMs: 1000,
  fenceWaitMs: 30_000,
  demoteWaitMs: 60_000,
  stepRetryDelayMs: 2000,
  maxStepAttempts: 3,
  ownerLeaseMs: 15_000,
  safetyMarginMs: 5000,
  bootWaitMs: 180_000,
};

export interface ControllerDeps {
  store: ClusterStateStore;
  hosts: HostCommands;
  vip: VipMover;
  /** Moves the clusters' Route 53 records (core/routes.ts); absent where no cluster has one (the sandbox). */
  route53?: RouteMover<DnsRecord, RecordChange>;
  fencer: InstanceFencer;
  notifier: Notifier;
  metrics: Metrics;
  clock: Clock;
  log: Logger;
  /** Keeps the snapshot behind every decision that is not healthy (core/flight-recorder.ts); absent: nothing kept. */
  recorder?: FlightRecorder;
  /** The pure engine (core/engine `decide`). */
  decide: (snapshot: ClusterSnapshot, now: number) => Decision;
  timings: ControllerTimings;
}

/** One Lambda invocation (or one local-runtime delivery). */
export interface Invocation {
  /** Unique per invocation: the saga owner's identity. */
  owner: string;
  /** Milliseconds this invocation may still run (Lambda's `getRemainingTimeInMillis`). */
  remainingMs: () => number;
  /**
   * Test hook: called after each saga step has been persisted. Throwing from it simulates the
   * invocation dying right there.
   */
  crashAfter?: (step: string) => void | Promise<void>;
}

/**
 * Stores an event and publishes it to SNS when the cluster's `event_notifications` lets it through
 * (null or empty = all events, as in repmgr). A failed publish is logged, never fatal: the stored
 * event is the record, the notification a convenience.
 */
export async function recordEvent(
  deps: ControllerDeps,
  settings: ClusterSettings,
  event: Omit<EventRecord, 'timestamp'> & { timestamp?: number },
): Promise<EventRecord> {
  const full: EventRecord = { ...event, details: event.details.slice(0, 8192), timestamp: event.timestamp ?? deps.clock.now() };
  await deps.store.appendEvent(full);
  if (shouldNotify(settings, full.event)) {
    try {
      await deps.notifier.publish(full);
    } catch (error) {
      deps.log.warn('could not publish event notification', { cluster_id: full.cluster_id, event: full.event, error });
    }
  }
  return full;
}

export function shouldNotify(settings: ClusterSettings, event: EventName): boolean {
  const filter = settings.event_notifications;
  return filter === null || filter.length === 0 || filter.includes(event);
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const detail = (error as { detail?: unknown }).detail;
    return typeof detail === 'string' && detail.length > 0 ? `${error.message}: ${detail}` : error.message;
  }
  return String(error);
}
