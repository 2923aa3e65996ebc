/**
 * repmgr's `event_notification_command`, run by the agent daemon for every event recorded about its
 * own node, whoever recorded it: the daemon itself, a host action the controller sent through SSM
 * (promote, follow, rejoin), or the controller (repmgrd_failover_promote names the new primary,
 * repmgrd_failover_follow the follower). One path for all of them: the event log in the state
 * table, read on a timer of its own (docs/operations.md). Nothing in a failover waits for it.
 *
 * Each command runs alone, bounded by `event_notification_timeout`; every run is logged with its
 * exit code and the end of its output, and a run that fails or times out is recorded as the event
 * `event_notification_failed` (which never runs the command itself).
 */
import { eventEnvironment, eventPlaceholders, eventSelected, expandEventCommand } from '../../core/event-command.js';
import type { EventName } from '../../core/events.js';
import type { EventRecord } from '../../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../../core/ports.js';
import type { AgentConfig } from '../config.js';
import { runShellCapped } from '../host.js';
import type { Logger } from '../log.js';

/** Events are kept after the restart floor for this long, however late their write arrived. */
const MIN_LOOKBACK_MS = 60_000;

export type ShellRunner = (command: string, timeoutMs: number, env: Record<string, string>) => Promise<{ code: number | null; output: string }>;

export interface EventCommandDeps {
  config: Pick<AgentConfig, 'cluster_id' | 'node_id' | 'event_notification_command' | 'event_notifications' | 'event_notification_timeout' | 'heartbeat_interval_secs'>;
  store: Pick<ClusterStateStore, 'listEvents'>;
  log: Logger;
  now: () => number;
  /** The cluster as the daemon read it last (the primary's name and conninfo for %a and %c). */
  cluster: () => LoadedCluster | undefined;
  /** Records an event about this node (the daemon's queue). */
  record: (event: EventName, successful: boolean, details: string) => void;
  /** Events older than this are never run (the agent's start, or where the last run stopped). */
  floorMs: number;
  /** @default runShellCapped */
  run?: ShellRunner;
}

/** One run, for tests and the log. */
export interface EventCommandRun {
  event: EventName;
  timestamp: number;
  command: string;
  code: number | null;
  output: string;
}

export class EventCommandRunner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> | undefined;
  /** Events already run (or skipped) within the look-back window, by identity. */
  private readonly seen = new Map<string, number>();
  private handledUntil: number;
  readonly runs: EventCommandRun[] = [];

  constructor(private readonly deps: EventCommandDeps) {
    this.handledUntil = deps.floorMs;
  }

  /** Newest event timestamp handled so far: where a restarted agent picks up (its state file). */
  get notifiedUntil(): number {
    return this.handledUntil;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops polling; a command already running is waited for up to `withinMs` (it keeps its own limit). */
  async stop(withinMs = 5000): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (!this.inFlight) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.inFlight, new Promise<void>((r) => (timer = setTimeout(r, withinMs)))]);
    if (timer) clearTimeout(timer);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.poll()
        .catch((error: unknown) => this.deps.log.log('WARNING', 'unable to read events for event_notification_command', { error: String(error) }))
        .finally(() => {
          this.inFlight = undefined;
          this.schedule(this.deps.config.heartbeat_interval_secs * 1000);
        });
    }, delayMs);
  }

  /** One round: the node's new events, oldest first, each run once. */
  async poll(): Promise<void> {
    const { config, store, now } = this.deps;
    const lookback = Math.max(MIN_LOOKBACK_MS, 4 * config.heartbeat_interval_secs * 1000);
    const since = Math.max(this.deps.floorMs, now() - lookback);
    for (const [key, ts] of this.seen) if (ts < since) this.seen.delete(key);
    const events = await store.listEvents(config.cluster_id, { nodeId: config.node_id, sinceMs: since });
    for (const e of events) {
      const key = `${e.timestamp}|${e.event}|${e.details}`;
      if (e.timestamp < this.deps.floorMs || this.seen.has(key)) continue;
      this.seen.set(key, e.timestamp);
      this.handledUntil = Math.max(this.handledUntil, e.timestamp);
      if (eventSelected(config.event_notifications, e.event)) await this.runFor(e);
    }
  }

  private async runFor(e: EventRecord): Promise<void> {
    const { config, log } = this.deps;
    const values = eventPlaceholders(e, this.deps.cluster()?.snapshot);
    const command = expandEventCommand(config.event_notification_command, values);
    const timeoutMs = config.event_notification_timeout * 1000;
    const run = this.deps.run ?? runShellCapped;
    const { code, output } = await run(command, timeoutMs, eventEnvironment(e, values));
    this.runs.push({ event: e.event, timestamp: e.timestamp, command, code, output });
    if (this.runs.length > 100) this.runs.shift();
    const tail = output.trim().slice(-1000);
    if (code === 0) {
      log.log('INFO', 'event_notification_command succeeded', { event: e.event, event_timestamp: e.timestamp, exit_code: 0, output: tail });
      return;
    }
    const why = code === null ? `did not finish within event_notification_timeout=${config.event_notification_timeout} s and was killed` : `exited with code ${code}`;
    log.log('WARNING', `event_notification_command ${why}`, { event: e.event, event_timestamp: e.timestamp, exit_code: code, output: tail });
    this.deps.record('event_notification_failed', false, `event_notification_command for ${e.event} (recorded at ${e.timestamp}) ${why}${tail ? `; output ends: ${tail.slice(-500)}` : ''}`);
  }
}
