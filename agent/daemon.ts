/**
 * The agent daemon (SPEC §5.1, §5.3): `pgvigil-agent run -f repmgr.conf`.
 *
 * Every `monitor_interval_secs` one tick checks the local server, the other nodes (by
 * `connection_check_type`) and the data directory, each bounded by a timeout, and judges the
 * lease on the monotonic clock. Talking to DynamoDB (cluster read, lease renewal, heartbeat,
 * queued events) happens in a separate publisher that the tick never waits for, so an unreachable
 * DynamoDB can delay reports but never the checks or the self-fencing.
 *
 * The lease: while the local server runs as a primary, the publisher renews the cluster's lease with
 * a fresh random RVN on every heartbeat (the store's conditional write succeeds only while this node
 * is the primary at the current term). If no renewal has succeeded for `lease_secs` since the
 * later of the last success and the moment the server became primary, the agent stops the server
 * and fences it (fence marker + standby.signal) and records `lease_lost`. The agent never starts
 * PostgreSQL itself, and at start it fences a server that carries a fence marker or whose cluster
 * has moved on to another primary (hg_repmgr's `node startup` rule).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EventName } from '../core/events.js';
import type { ClusterRecord, EventRecord, Heartbeat, NodeRecord, Reachability, ServerState } from '../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../core/ports.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import { lsnDiff } from '../core/lsn.js';
import { defineCommand } from '../cli/framework.js';
import { applyFence } from './actions/roles.js';
import { actionContext } from './commands.js';
import type { AgentConfig } from './config.js';
import { readFence } from './fence.js';
import { exists } from './host.js';
import { jsonLogger, type Logger } from './log.js';
import { systemdNotifier, type Notifier } from './notify.js';
import { MAX_QUEUED_EVENTS, readAgentState } from './state-file.js';
import { probeLocalServer, type LocalProbe } from './pg/local.js';
import { ReachabilityChecker } from './pg/reachability.js';
import { close, connect, type Session } from './pg/session.js';
import { caughtUp, downgradeSync, restoreSync, savedSyncNames, syncStandbyNames } from './pg/sync.js';

export interface AgentDaemonDeps {
  config: AgentConfig;
  store: ClusterStateStore;
  log: Logger;
  notifier?: Notifier;
  /** Wall clock (ms since the epoch) for heartbeat and event times. @default Date.now */
  now?: () => number;
  /** Monotonic clock in ms for the lease. @default performance.now */
  monotonic?: () => number;
}

/** A snapshot of the daemon's own view, for tests and `status`. */
export interface AgentStatus {
  running: boolean;
  ticks: number;
  heartbeatsWritten: number;
  heartbeatFailures: number;
  lastServer: ServerState | null;
  cluster: ClusterRecord | null;
  fenced: boolean;
  /** Events waiting for DynamoDB, oldest first. */
  queuedEvents: EventName[];
}

export class AgentDaemon {
  private readonly config: AgentConfig;
  private readonly store: ClusterStateStore;
  private readonly log: Logger;
  private readonly notifier: Notifier;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly checker: ReachabilityChecker;

  private running = false;
  private stopping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tickInFlight: Promise<void> | undefined;
  private publishInFlight: Promise<void> | undefined;

  private seq = 0;
  private ticks = 0;
  private heartbeatsWritten = 0;
  private heartbeatFailures = 0;
  private loaded: LoadedCluster | undefined;
  private server: ServerState | null = null;
  private reach = new Map<number, Reachability>();
  private events: EventRecord[] = [];
  private lastSignature = '';
  private lastWriteMono = -Infinity;
  private pendingWrite = false;
  private backoffUntilMono = 0;
  private backoffMs = 0;
  private lastRenewOkMono = -Infinity;
  private primarySinceMono: number | null = null;
  private fencing = false;
  private fenced = false;
  private lastWatchdogMono = -Infinity;
  private noSyncSinceMono: number | null = null;
  /** Set on the tick that saw the local server leave recovery (a promotion): see judgeSync. */
  private promotedAtMono: number | null = null;
  private startedMono = 0;
  /** An idle session to the local server whose loss wakes the loop at once (see watchLocalServer). */
  private watch: Session | undefined;
  private watchOpening = false;
  /** A wake-up that arrived during a tick: the next tick runs right after it. */
  private wakeRequested = false;

  constructor(deps: AgentDaemonDeps) {
    this.config = deps.config;
    this.store = deps.store;
    this.log = deps.log;
    this.notifier = deps.notifier ?? { watchdogMs: undefined, notify: async () => undefined };
    this.now = deps.now ?? Date.now;
    this.monotonic = deps.monotonic ?? (() => performance.now());
    this.checker = new ReachabilityChecker(deps.config.connection_check_type, deps.config.connection_check_query);
  }

  status(): AgentStatus {
    return {
      running: this.running,
      ticks: this.ticks,
      heartbeatsWritten: this.heartbeatsWritten,
      heartbeatFailures: this.heartbeatFailures,
      lastServer: this.server,
      cluster: this.loaded?.snapshot.cluster ?? null,
      fenced: this.fenced,
      queuedEvents: this.events.map((e) => e.event),
    };
  }

  /** Starts monitoring: applies the startup rule, runs the first tick, then tells systemd READY=1. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.startedMono = this.monotonic();
    this.seq = await this.loadSeq();
    this.log.log('INFO', 'agent starting', { node_id: this.config.node_id, cluster_id: this.config.cluster_id, version: PGVIGIL_VERSION });
    this.queueEvent('agent_start', true, `pgvigil agent ${PGVIGIL_VERSION} started on node ${this.config.node_id}`);
    await this.startupRule();
    await this.tick();
    await this.notifier.notify('READY=1');
    this.schedule();
  }

  /** The one shutdown path (SIGINT, SIGTERM, tests). Idempotent. */
  async stop(reason = 'stop requested'): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await close(this.watch);
    this.watch = undefined;
    await this.notifier.notify('STOPPING=1');
    this.log.log('INFO', 'agent stopping', { reason });
    await this.tickInFlight?.catch(() => undefined);
    await withDeadline(this.publishInFlight, 5000);
    this.queueEvent('agent_stop', true, `pgvigil agent stopped on node ${this.config.node_id}: ${reason}`);
    await withDeadline(this.flushEvents(), 5000);
    await this.checker.closeAll();
    await this.saveSeq();
  }

  private schedule(delayMs = this.config.monitor_interval_secs * 1000): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.wakeRequested = false;
      this.tickInFlight = this.tick()
        .catch((error: unknown) => this.log.log('ERROR', 'monitoring tick failed', { error: String(error) }))
        .finally(() => {
          this.tickInFlight = undefined;
          this.schedule(this.wakeRequested ? 0 : undefined);
        });
    }, delayMs);
  }

  /** Runs the next tick now instead of at the end of the interval (or right after the running one). */
  private wake(why: string): void {
    if (!this.running) return;
    this.log.log('DEBUG', 'woken before the next interval', { why });
    if (this.tickInFlight) {
      this.wakeRequested = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  /**
   * Keeps one idle session open to the local server. A backend exits as soon as its postmaster
   * dies ("terminating connection due to unexpected postmaster exit"), and a server that is
   * stopped or restarted closes it too, so its loss wakes the loop at once: a crash is reported
   * within milliseconds instead of at the next monitoring interval. Opened again once the local
   * server accepts connections.
   */
  private watchLocalServer(): void {
    if (this.watch || this.watchOpening || !this.running) return;
    this.watchOpening = true;
    connect(this.config.conninfo, this.checkTimeoutMs())
      .then((session) => {
        if (!this.running) return close(session);
        this.watch = session;
        const lost = (): void => {
          if (this.watch !== session) return;
          this.watch = undefined;
          void close(session);
          this.wake('the session to the local server was closed');
        };
        session.on('end', lost);
        session.on('error', lost);
        return undefined;
      })
      .catch(() => undefined)
      .finally(() => {
        this.watchOpening = false;
      });
  }

  private checkTimeoutMs(): number {
    return Math.max(1000, Math.min(5000, this.config.monitor_interval_secs * 1000));
  }

  /** hg_repmgr's `node startup` rule: a fenced or superseded former primary never runs as primary. */
  private async startupRule(): Promise<void> {
    const marker = await readFence(this.config.data_directory).catch(() => undefined);
    if (marker) this.fenced = true;
    this.loaded = await withDeadline(this.store.load(this.config.cluster_id).catch(() => undefined), this.checkTimeoutMs() * 2);
    const probe = await this.probe();
    if (!probe.accepting_connections || probe.in_recovery !== false) return;
    const cluster = this.loaded?.snapshot.cluster;
    const superseded = cluster !== undefined && cluster.primary_node_id !== null && cluster.primary_node_id !== this.config.node_id && cluster.operation?.candidate_node_id !== this.config.node_id;
    if (marker || superseded) {
      const why = marker ? `it carries a fence marker (${marker.reason}, term ${marker.term})` : `cluster "${this.config.cluster_id}" has node ${cluster?.primary_node_id} as primary at term ${cluster?.term}`;
      this.log.log('WARNING', `local server runs as a primary but ${why}; fencing it`);
      await this.selfFence('superseded', why);
    }
  }

  private async probe(): Promise<LocalProbe> {
    return probeLocalServer({
      conninfo: this.config.conninfo,
      dataDir: this.config.data_directory,
      timeoutMs: this.checkTimeoutMs(),
      nodes: this.loaded?.snapshot.nodes ?? [],
    });
  }

  private me(): NodeRecord | undefined {
    return this.loaded?.snapshot.nodes.find((n) => n.node_id === this.config.node_id);
  }

  /** One monitoring cycle. */
  async tick(): Promise<void> {
    this.ticks++;
    const now = this.now();
    const mono = this.monotonic();
    const me = this.me();
    const witnessWithoutPg = me?.type === 'witness' && !(await exists(this.config.data_directory));

    // 1. the local server
    if (witnessWithoutPg) {
      this.server = null;
    } else {
      const probe = await this.probe();
      const prev = this.server;
      // While a self-fence runs, it decides when the node counts as fenced (marker written, server
      // stopped, event queued), not a tick that the stopping server woke half-way through.
      if (!this.fencing) this.fenced = (await readFence(this.config.data_directory).catch(() => undefined)) !== undefined;
      const accepting = probe.accepting_connections;
      if (accepting) this.watchLocalServer();
      // While the server cannot answer, report what it last said of its identity and position:
      // the controller compares candidates against the failed primary's system identifier,
      // timeline, last LSN and synchronous standbys, so a crash must not erase them.
      // After an agent restart, the heartbeat it wrote before is where those facts survive.
      const before = prev ?? this.loaded?.snapshot.heartbeats.find((h) => h.node_id === this.config.node_id)?.server ?? null;
      const known = accepting || before === null ? probe : { ...probe, ...lastKnownFacts(before) };
      this.server = {
        postmaster_running: probe.postmaster_running,
        accepting_connections: accepting,
        last_accepting_at: accepting ? now : (prev?.last_accepting_at ?? null),
        down_since: accepting ? null : (prev?.down_since ?? now),
        in_recovery: probe.in_recovery,
        system_identifier: known.system_identifier,
        timeline: steadyTimeline(known, before),
        current_lsn: known.current_lsn,
        receive_lsn: known.receive_lsn,
        replay_lsn: known.replay_lsn,
        wal_receiver_status: probe.wal_receiver_status,
        wal_receiver_upstream_node_id: probe.wal_receiver_upstream_node_id,
        replication: known.replication,
        synchronous_standby_names: known.synchronous_standby_names,
        data_directory_writable: probe.data_directory_writable,
        replication_lag_secs: probe.replication_lag_secs,
        fenced: this.fenced,
      };
      if (prev && prev.accepting_connections && !accepting) {
        this.log.log('WARNING', 'unable to connect to the local node', { error: probe.error });
        this.queueEvent('repmgrd_local_disconnect', false, `unable to connect to local node ${this.config.node_id}: ${probe.error ?? 'not accepting connections'}`);
      } else if (prev && !prev.accepting_connections && accepting) {
        this.log.log('NOTICE', 'reconnected to the local node');
        this.queueEvent('repmgrd_local_reconnect', true, `reconnected to local node ${this.config.node_id}`);
      }
      // The lease clock of a primary starts when it becomes one.
      const runningAsPrimary = accepting && probe.in_recovery === false;
      if (runningAsPrimary && prev?.in_recovery === true) this.promotedAtMono = mono;
      if (runningAsPrimary && this.primarySinceMono === null) this.primarySinceMono = mono;
      // A fence holds for as long as its marker exists, whoever started the server meanwhile.
      if (runningAsPrimary && this.fenced && !this.fencing) {
        await this.selfFence('superseded', 'the server runs as a primary although it carries a fence marker');
      }
      if (!probe.postmaster_running || probe.in_recovery === true) this.primarySinceMono = null;
    }

    // 2. the other nodes
    await this.checkOthers(now);

    // 2b. synchronous replication downgrade/restore (primary only)
    if (this.config.sync_downgrade_after_secs > 0) await this.judgeSync(mono).catch((error: unknown) => this.log.log('WARNING', 'synchronous replication check failed', { error: String(error) }));

    // 3. the lease (SPEC §5.3), judged on the monotonic clock only
    this.judgeLease(mono);

    // 4. heartbeat when due or when something changed
    const signature = this.signature();
    const dueMs = this.config.heartbeat_interval_secs * 1000;
    if (signature !== this.lastSignature || mono - this.lastWriteMono >= dueMs) this.pendingWrite = true;
    this.kickPublisher();

    // 5. systemd watchdog
    const wd = this.notifier.watchdogMs;
    if (wd !== undefined && mono - this.lastWatchdogMono >= wd / 3) {
      this.lastWatchdogMono = mono;
      void this.notifier.notify('WATCHDOG=1');
    }
  }

  private async checkOthers(now: number): Promise<void> {
    const me = this.me();
    const nodes = (this.loaded?.snapshot.nodes ?? []).filter((n) => n.active && n.node_id !== this.config.node_id && n.type !== 'witness');
    const upstreamId = me?.upstream_node_id ?? null;
    const timeout = this.checkTimeoutMs();
    const results = await Promise.all(nodes.map(async (n) => ({ node: n, result: await this.checker.check(n.conninfo, timeout) })));
    const next = new Map<number, Reachability>();
    for (const { node, result } of results) {
      const prev = this.reach.get(node.node_id);
      next.set(node.node_id, {
        node_id: node.node_id,
        ok: result.ok,
        checked_at: now,
        last_ok_at: result.ok ? now : (prev?.last_ok_at ?? null),
        failures: result.ok ? 0 : (prev?.failures ?? 0) + 1,
      });
      if (node.node_id === upstreamId || node.node_id === this.loaded?.snapshot.cluster.primary_node_id) {
        if (prev?.ok !== false && !result.ok && prev !== undefined) {
          this.log.log('WARNING', `unable to reach upstream node ${node.node_id}`, { detail: result.detail });
          this.queueEvent('repmgrd_upstream_disconnect', false, `unable to connect to upstream node "${node.node_name}" (ID: ${node.node_id}): ${result.detail}`);
        } else if (prev?.ok === false && result.ok) {
          this.log.log('NOTICE', `upstream node ${node.node_id} reachable again`);
          this.queueEvent('repmgrd_upstream_reconnect', true, `reconnected to upstream node "${node.node_name}" (ID: ${node.node_id})`);
        }
      }
    }
    this.reach = next;
    await this.checker.retain(new Set(nodes.map((n) => n.conninfo)));
  }

  private async judgeSync(mono: number): Promise<void> {
    const s = this.server;
    const justPromoted = this.promotedAtMono !== null;
    this.promotedAtMono = null;
    if (!s?.accepting_connections || s.in_recovery !== false || this.fenced) {
      this.noSyncSinceMono = null;
      return;
    }
    const saved = await savedSyncNames(this.config.data_directory);
    if (saved !== undefined) {
      if (caughtUp(s.replication, syncStandbyNames(saved), s.current_lsn)) {
        await restoreSync(this.config.conninfo, this.config.data_directory, saved, this.checkTimeoutMs());
        this.log.log('NOTICE', 'synchronous replication restored', { synchronous_standby_names: saved });
        this.queueEvent('sync_restored', true, `synchronous_standby_names restored to "${saved}": a synchronous standby has caught up`);
      }
      return;
    }
    const names = s.synchronous_standby_names ?? '';
    if (names === '' || s.replication.some((r) => r.sync_state === 'sync' || r.sync_state === 'quorum')) {
      this.noSyncSinceMono = null;
      return;
    }
    this.noSyncSinceMono ??= mono;
    // A server that has just been promoted has no standby following it yet by construction (they
    // follow it after the Elastic IP moves): waiting sync_downgrade_after_secs would only hold
    // every write of the new primary until the first follower is back. The operator has accepted
    // asynchronous replication while no synchronous standby is connected; the promoted candidate
    // was itself synchronous, so every write acknowledged before the failover is on it.
    if (!justPromoted && mono - this.noSyncSinceMono < this.config.sync_downgrade_after_secs * 1000) return;
    await downgradeSync(this.config.conninfo, this.config.data_directory, names, this.checkTimeoutMs());
    this.noSyncSinceMono = null;
    this.log.log('WARNING', 'switched to asynchronous replication', { synchronous_standby_names: names, just_promoted: justPromoted });
    this.queueEvent(
      'sync_downgraded',
      true,
      justPromoted
        ? `promoted with no synchronous standby following yet; synchronous_standby_names "${names}" cleared until one has caught up`
        : `no synchronous standby connected for ${this.config.sync_downgrade_after_secs} s; synchronous_standby_names "${names}" cleared`,
    );
  }

  private judgeLease(mono: number): void {
    if (this.primarySinceMono === null || this.fencing || this.fenced) return;
    const base = Math.max(this.lastRenewOkMono, this.primarySinceMono);
    const leaseMs = this.config.lease_secs * 1000;
    // Fence at the last tick before the lease runs out, not the first one after: the server must be
    // down by the time the controller may count the lease as expired.
    if (mono - base + this.config.monitor_interval_secs * 1000 < leaseMs) return;
    const secs = ((mono - base) / 1000).toFixed(1);
    void this.selfFence('lease_lost', `lease not renewed for ${secs} s (lease_secs=${this.config.lease_secs})`);
  }

  private async selfFence(reason: 'lease_lost' | 'superseded', why: string): Promise<void> {
    if (this.fencing) return;
    this.fencing = true;
    this.log.log('ERROR', `fencing the local server: ${why}`, { reason });
    const term = this.loaded?.snapshot.cluster.term ?? 0;
    try {
      await applyFence({ config: this.config }, reason, term);
      this.fenced = true;
      this.primarySinceMono = null;
      this.queueEvent(reason === 'lease_lost' ? 'lease_lost' : 'fence_applied', true, `node ${this.config.node_id} fenced itself: ${why}`);
      this.pendingWrite = true;
      this.log.log('NOTICE', 'local server stopped and fenced', { reason });
    } catch (error) {
      this.log.log('ERROR', 'unable to fence the local server', { error: String(error) });
      this.queueEvent('fence_applied', false, `node ${this.config.node_id} could not fence itself: ${String(error)}`);
    } finally {
      this.fencing = false;
    }
  }

  private signature(): string {
    const s = this.server;
    return JSON.stringify([
      s && [s.postmaster_running, s.accepting_connections, s.in_recovery, s.timeline, s.wal_receiver_status, s.wal_receiver_upstream_node_id, s.fenced, s.data_directory_writable, s.synchronous_standby_names, s.replication.map((r) => [r.application_name, r.state, r.sync_state])],
      [...this.reach.values()].map((r) => [r.node_id, r.ok]),
    ]);
  }

  /** Something in this heartbeat can change a decision: the stream filter lets it through. */
  private attention(): boolean {
    const s = this.server;
    const me = this.me();
    if (s && (!s.postmaster_running || !s.accepting_connections || s.fenced || s.data_directory_writable === false)) return true;
    if ([...this.reach.values()].some((r) => !r.ok)) return true;
    if (s && me && s.in_recovery !== null && (me.type === 'primary') === s.in_recovery) return true;
    const cluster = this.loaded?.snapshot.cluster;
    if (s && cluster && s.in_recovery === false && cluster.primary_node_id !== this.config.node_id) return true;
    return false;
  }

  private queueEvent(event: EventName, successful: boolean, details: string): void {
    this.events.push({
      cluster_id: this.config.cluster_id,
      node_id: this.config.node_id,
      event,
      successful,
      timestamp: this.now(),
      details: details.slice(0, 8000),
      term: this.loaded?.snapshot.cluster.term ?? 0,
    });
    if (this.events.length > MAX_QUEUED_EVENTS) this.events.splice(0, this.events.length - MAX_QUEUED_EVENTS);
    this.pendingWrite = true;
  }

  private kickPublisher(): void {
    if (this.publishInFlight || !this.pendingWrite) return;
    if (this.monotonic() < this.backoffUntilMono) return;
    this.publishInFlight = this.publish().finally(() => {
      this.publishInFlight = undefined;
    });
  }

  /** Reads the cluster, renews the lease, writes the heartbeat and queued events. */
  private async publish(): Promise<void> {
    const started = this.monotonic();
    try {
      const loaded = await this.store.load(this.config.cluster_id);
      if (loaded) this.loaded = loaded;
      const cluster = loaded?.snapshot.cluster;
      const s = this.server;
      if (cluster && s?.accepting_connections && s.in_recovery === false && cluster.primary_node_id === this.config.node_id && !this.fenced) {
        const rvn = randomBytes(12).toString('hex');
        const r = await this.store.renewLease(this.config.cluster_id, this.config.node_id, cluster.term, rvn, this.now());
        // Count the renewal from when it was sent: the controller may have seen it any time after.
        if (r.ok) this.lastRenewOkMono = started;
        else this.log.log('WARNING', 'lease renewal refused: the cluster record changed', { term: cluster.term });
      }
      this.pendingWrite = false;
      const signature = this.signature();
      const heartbeat: Heartbeat = {
        cluster_id: this.config.cluster_id,
        node_id: this.config.node_id,
        seq: ++this.seq,
        sent_at: this.now(),
        agent_version: PGVIGIL_VERSION,
        term: cluster?.term ?? 0,
        server: this.server,
        reachability: [...this.reach.values()],
      };
      const attention = this.attention();
      await this.store.putHeartbeat(heartbeat, attention);
      this.heartbeatsWritten++;
      this.log.log('DEBUG', 'heartbeat written', { seq: heartbeat.seq, attention, changed: signature !== this.lastSignature, ms: Math.round(this.monotonic() - started) });
      this.lastSignature = signature;
      this.lastWriteMono = started;
      await this.flushEvents();
      if (this.config.monitoring_history) await this.writeMonitoringSample();
      if (this.backoffMs > 0) this.log.log('NOTICE', 'DynamoDB reachable again');
      this.backoffMs = 0;
      this.backoffUntilMono = 0;
    } catch (error) {
      this.heartbeatFailures++;
      this.pendingWrite = true;
      const cap = this.primarySinceMono !== null ? Math.max(1000, (this.config.lease_secs * 1000) / 4) : 30_000;
      this.backoffMs = Math.min(cap, this.backoffMs === 0 ? 500 : this.backoffMs * 2);
      this.backoffUntilMono = this.monotonic() + this.backoffMs;
      this.log.log('WARNING', 'unable to write to the cluster state store; retrying with backoff', { error: String((error as Error).message ?? error), backoff_ms: this.backoffMs });
    }
  }

  private async flushEvents(): Promise<void> {
    while (this.events.length > 0) {
      const e = this.events[0] as EventRecord;
      await this.store.appendEvent(e);
      this.events.shift();
    }
  }

  private async writeMonitoringSample(): Promise<void> {
    const cluster = this.loaded?.snapshot.cluster;
    const s = this.server;
    if (!cluster?.primary_node_id || !s?.in_recovery || cluster.primary_node_id === this.config.node_id) return;
    const primaryHb = this.loaded?.snapshot.heartbeats.find((h) => h.node_id === cluster.primary_node_id);
    const primaryLsn = primaryHb?.server?.current_lsn ?? null;
    await this.store.putMonitoringSample(
      {
        cluster_id: this.config.cluster_id,
        primary_node_id: cluster.primary_node_id,
        standby_node_id: this.config.node_id,
        last_monitor_time: this.now(),
        last_apply_time: null,
        last_wal_primary_location: primaryLsn,
        last_wal_standby_location: s.receive_lsn,
        replication_lag: primaryLsn && s.receive_lsn ? Math.max(0, Number(lsnDiff(primaryLsn, s.receive_lsn))) : null,
        apply_lag: s.receive_lsn && s.replay_lsn ? Math.max(0, Number(lsnDiff(s.receive_lsn, s.replay_lsn))) : null,
      },
      7 * 86_400,
    );
  }

  private seqFile(): string | undefined {
    return this.config.agent_state_dir ? join(this.config.agent_state_dir, `agent-${this.config.node_id}.json`) : undefined;
  }

  /** Restores the heartbeat sequence and the events that could not be written before a restart. */
  private async loadSeq(): Promise<number> {
    const file = this.seqFile();
    if (!file) return 0;
    const { state, problem } = await readAgentState(file, this.config.cluster_id);
    if (problem) this.log.log('WARNING', 'agent state file not used: starting from heartbeat sequence 0 with no queued events', { file, problem });
    this.events.push(...state.events);
    return state.seq;
  }

  private async saveSeq(): Promise<void> {
    const file = this.seqFile();
    if (!file) return;
    try {
      await mkdir(this.config.agent_state_dir, { recursive: true });
      await writeFile(file, JSON.stringify({ seq: this.seq, events: this.events }), { mode: 0o600 });
    } catch (error) {
      this.log.log('WARNING', 'unable to save agent state', { error: String(error) });
    }
  }
}

async function withDeadline<T>(promise: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!promise) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.catch(() => undefined), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export const runCommand = defineCommand({
  words: ['run'],
  summary: 'run the agent daemon (monitoring, heartbeats, lease) until SIGINT/SIGTERM',
  usage: 'run -f CONFIG',
  examples: ['pgvigil-agent run -f /etc/pgvigil/repmgr.conf'],
  options: {},
  async run(ctx) {
    const a = await actionContext(ctx);
    const log = jsonLogger({ level: a.config.log_level, file: a.config.log_file || undefined, base: { node_id: a.config.node_id } });
    const daemon = new AgentDaemon({ config: a.config, store: a.store, log, notifier: systemdNotifier(ctx.env) });
    let quit: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (quit = resolve));
    const onSignal = (signal: NodeJS.Signals): void => quit(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await daemon.start();
      const signal = await stopped;
      await daemon.stop(`received ${signal}`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  },
});

/** The facts of a server that outlive a crash: identity, timeline, WAL positions, sync standbys. */
/**
 * A server's timeline never goes back. A standby's is read partly from its WAL receiver
 * (received_tli): when the receiver is gone because its upstream crashed, only the checkpoint's
 * timeline is left, which stays on the old timeline until the next restartpoint. Reporting that
 * would make every standby that followed a new primary look "not on the cluster's timeline" at the
 * very moment a failover needs it, so the highest timeline reported for the same system is kept.
 */
export function steadyTimeline(now: Pick<LocalProbe, 'timeline' | 'system_identifier'>, before: ServerState | null): number | null {
  if (now.timeline === null || before?.timeline == null) return now.timeline;
  if (before.system_identifier === null || before.system_identifier !== now.system_identifier) return now.timeline;
  return Math.max(now.timeline, before.timeline);
}

function lastKnownFacts(prev: ServerState): Partial<LocalProbe> {
  const facts: Partial<LocalProbe> = {};
  if (prev.system_identifier !== null) facts.system_identifier = prev.system_identifier;
  if (prev.timeline !== null) facts.timeline = prev.timeline;
  if (prev.current_lsn !== null) facts.current_lsn = prev.current_lsn;
  if (prev.receive_lsn !== null) facts.receive_lsn = prev.receive_lsn;
  if (prev.replay_lsn !== null) facts.replay_lsn = prev.replay_lsn;
  if (prev.replication.length > 0) facts.replication = prev.replication;
  if (prev.synchronous_standby_names !== null) facts.synchronous_standby_names = prev.synchronous_standby_names;
  return facts;
}
