/**
 * The heartbeat publisher: everything the agent writes to DynamoDB except the lease (lease.ts).
 * One round reads the cluster record, writes the heartbeat, then the queued events and, on a
 * standby with `monitoring_history`, a monitoring sample. The monitoring tick only marks a round
 * due and never waits for it; a round may be slow or hang on its own requests' time limits
 * without touching the lease. While DynamoDB is unreachable it backs off exponentially; events are
 * queued (and kept in the agent's state file across restarts, state-file.ts).
 */
import type { EventName } from '../../core/events.js';
import type { EventRecord, Heartbeat, MonitoringSample, Reachability, ServerState } from '../../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../../core/ports.js';
import { PGVIGIL_VERSION } from '../../core/version.js';
import type { Logger } from '../log.js';
import { heartbeatDue, nextBackoffMs, replicationLag } from './policy.js';
import { MAX_QUEUED_EVENTS } from '../state-file.js';


/** How long monitoring history is kept (repmgr keeps it until `cluster cleanup`; DynamoDB expires it). */
const MONITORING_TTL_SECS = 7 * 86_400;

/** What the daemon reports in the next heartbeat, read when the round writes it. */
export interface Report {
  server: ServerState | null;
  reachability: Reachability[];
  /** Does this heartbeat deserve the controller's attention (policy.ts `attention`)? */
  attention: boolean;
  signature: string;
  /** The local server runs as a primary (a shorter backoff: its heartbeats matter most). */
  primary: boolean;
}

export interface PublisherDeps {
  store: Pick<ClusterStateStore, 'load' | 'putHeartbeat' | 'appendEvent' | 'putMonitoringSample'>;
  clusterId: string;
  nodeId: number;
  heartbeatIntervalMs: number;
  leaseMs: number;
  monitoringHistory: boolean;
  log: Logger;
  now: () => number;
  monotonic: () => number;
  report: () => Report;
  /** The cluster as the round read it; the daemon keeps it as its view. */
  onLoaded: (loaded: LoadedCluster) => void;
  /** The cluster the daemon knows (for an event's term and the monitoring sample). */
  cluster: () => LoadedCluster | undefined;
}

export class HeartbeatPublisher {
  private seq = 0;
  private events: EventRecord[] = [];
  private pending = false;
  private inFlight: Promise<void> | undefined;
  private lastSignature = '';
  private lastWriteMono = -Infinity;
  private backoffMs = 0;
  private backoffUntilMono = 0;
  heartbeatsWritten = 0;
  heartbeatFailures = 0;

  constructor(private readonly deps: PublisherDeps) {}

  /** Restores what the state file kept: the heartbeat sequence and the unsent events. */
  restore(seq: number, events: readonly EventRecord[]): void {
    this.seq = seq;
    this.events.unshift(...events);
  }

  /** The heartbeat sequence and the unsent events, for the state file. */
  saved(): { seq: number; events: EventRecord[] } {
    return { seq: this.seq, events: [...this.events] };
  }

  queuedEvents(): EventName[] {
    return this.events.map((e) => e.event);
  }

  queueEvent(event: EventName, successful: boolean, details: string): void {
    this.events.push({
      cluster_id: this.deps.clusterId,
      node_id: this.deps.nodeId,
      event,
      successful,
      timestamp: this.deps.now(),
      details: details.slice(0, 8000),
      term: this.deps.cluster()?.snapshot.cluster.term ?? 0,
    });
    if (this.events.length > MAX_QUEUED_EVENTS) this.events.splice(0, this.events.length - MAX_QUEUED_EVENTS);
    this.pending = true;
  }

  /** Marks a round due when the report changed or the interval passed, and starts it if it can. */
  tick(signature: string, mono: number): void {
    if (heartbeatDue(signature, this.lastSignature, mono, this.lastWriteMono, this.deps.heartbeatIntervalMs)) this.pending = true;
    this.kick();
  }

  /** Something must be written as soon as possible (a fence). */
  markDue(): void {
    this.pending = true;
  }

  /** The round in flight, if any (stop waits for it, within a deadline). */
  get running(): Promise<void> | undefined {
    return this.inFlight;
  }

  private kick(): void {
    if (this.inFlight || !this.pending) return;
    if (this.deps.monotonic() < this.backoffUntilMono) return;
    this.inFlight = this.publish().finally(() => {
      this.inFlight = undefined;
    });
  }

  private async publish(): Promise<void> {
    const { store, clusterId, nodeId, log } = this.deps;
    const started = this.deps.monotonic();
    try {
      const loaded = await store.load(clusterId);
      if (loaded) this.deps.onLoaded(loaded);
      this.pending = false;
      const report = this.deps.report();
      const heartbeat: Heartbeat = {
        cluster_id: clusterId,
        node_id: nodeId,
        seq: ++this.seq,
        sent_at: this.deps.now(),
        agent_version: PGVIGIL_VERSION,
        term: loaded?.snapshot.cluster.term ?? 0,
        server: report.server,
        reachability: report.reachability,
      };
      await store.putHeartbeat(heartbeat, report.attention);
      this.heartbeatsWritten++;
      log.log('DEBUG', 'heartbeat written', { seq: heartbeat.seq, attention: report.attention, changed: report.signature !== this.lastSignature, ms: Math.round(this.deps.monotonic() - started) });
      this.lastSignature = report.signature;
      this.lastWriteMono = started;
      await this.flushEvents();
      if (this.deps.monitoringHistory) await this.writeMonitoringSample(report.server);
      if (this.backoffMs > 0) log.log('NOTICE', 'DynamoDB reachable again');
      this.backoffMs = 0;
      this.backoffUntilMono = 0;
    } catch (error) {
      this.heartbeatFailures++;
      this.pending = true;
      this.backoffMs = nextBackoffMs(this.backoffMs, this.deps.report().primary, this.deps.leaseMs);
      this.backoffUntilMono = this.deps.monotonic() + this.backoffMs;
      log.log('WARNING', 'unable to write to the cluster state store; retrying with backoff', { error: String((error as Error).message ?? error), backoff_ms: this.backoffMs });
    }
  }

  /** Writes the queued events, oldest first; an event leaves the queue only once written. */
  async flushEvents(): Promise<void> {
    while (this.events.length > 0) {
      await this.deps.store.appendEvent(this.events[0] as EventRecord);
      this.events.shift();
    }
  }

  private async writeMonitoringSample(server: ServerState | null): Promise<void> {
    const loaded = this.deps.cluster();
    const cluster = loaded?.snapshot.cluster;
    const s = server;
    if (!cluster?.primary_node_id || !s?.in_recovery || cluster.primary_node_id === this.deps.nodeId) return;
    const primaryLsn = loaded?.snapshot.heartbeats.find((h) => h.node_id === cluster.primary_node_id)?.server?.current_lsn ?? null;
    const sample: MonitoringSample = {
      cluster_id: this.deps.clusterId,
      primary_node_id: cluster.primary_node_id,
      standby_node_id: this.deps.nodeId,
      last_monitor_time: this.deps.now(),
      last_apply_time: null,
      last_wal_primary_location: primaryLsn,
      last_wal_standby_location: s.receive_lsn,
      ...replicationLag(primaryLsn, s),
    };
    await this.deps.store.putMonitoringSample(sample, MONITORING_TTL_SECS);
  }
}
