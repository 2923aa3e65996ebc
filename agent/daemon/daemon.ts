/**
 * The agent daemon's lifecycle (docs/agent.md): `start`/`stop`, the monitoring tick and its
 * scheduling, the startup rule, and the self-fence. It gathers facts and acts; what they mean is
 * decided in policy.ts.
 *
 * Paths that never wait for one another:
 * - the tick, every `monitor_interval_secs` (or at once when the idle session to the local server
 *   is lost): probes the local server, checks the other nodes and the data directory, each bounded
 *   by a timeout, judges synchronous replication, and marks a heartbeat due;
 * - the lease (lease.ts): its renewer and the guard that fences the server when the lease runs
 *   out, on timers of their own;
 * - the heartbeat publisher (publisher.ts): the cluster read, the heartbeat, events and monitoring
 *   history. It may be slow or hang without delaying a renewal or a fence;
 * - with `event_notification_command`, its runner (event-commands.ts), reading this node's events
 *   on a timer of its own.
 *
 * The agent never starts PostgreSQL itself, and at start it fences a server that carries a fence
 * marker or whose cluster has moved on to another primary (hg_repmgr's `node startup` rule).
 */
import { performance } from 'node:perf_hooks';
import type { ClusterRecord, NodeRecord, Reachability, ServerState } from '../../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../../core/ports.js';
import { PGVIGIL_VERSION } from '../../core/version.js';
import type { EventName } from '../../core/events.js';
import { parseHostPort } from '../../core/routes.js';
import { applyFence } from '../actions/roles.js';
import type { ApiFacts } from '../api/answer.js';
import { loadApiSecret } from '../api/auth.js';
import type { AskTarget } from '../api/client.js';
import { AgentApiServer } from '../api/server.js';
import { bootId, hostMonotonicMs, promoting, recordPromise } from '../failsafe-promise.js';
import { hostPort } from '../pg/conninfo.js';
import type { AgentConfig } from '../config.js';
import { readFence } from '../fence.js';
import { exists } from '../host.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../notify.js';
import { probeLocalServer, type LocalProbe } from '../pg/local.js';
import { ReachabilityChecker } from '../pg/reachability.js';
import { downgradeSync, restoreSync, savedSyncNames } from '../pg/sync.js';
import { EventCommandRunner } from './event-commands.js';
import { LeaseGuard, LeaseRenewer, type LeaseRenewalStats, type LeaseStore } from './lease.js';
import { decideConfirm, failsafeCandidates, type ConfirmDecision, type ConfirmRequest } from './failsafe.js';
import { FailsafePath } from './failsafe-path.js';
import { LagSampler } from './lag-sampler.js';
import { LocalServerWatch, UpstreamWatch } from './local-watch.js';
import { attention, judgeSync, leaseTimings, localTransition, nextReachability, runsAsPrimary, serverState, signature, startupFenceReason, watchdogDeadlineMono, type LeaseTimings, type SyncProgress } from './policy.js';
import { HeartbeatPublisher } from './publisher.js';
import { loadAgentState, saveAgentState } from './state-file.js';
import { LeaseWatchdog, watchdogDeadlineFile } from './watchdog.js';

export interface AgentDaemonDeps {
  config: AgentConfig;
  store: ClusterStateStore;
  /**
   * The store the lease path renews through: its own client, requests bounded by the attempt
   * limit (agent/store.ts `createLeaseStore`). @default store
   */
  leaseStore?: LeaseStore;
  log: Logger;
  notifier?: Notifier;
  /** Wall clock (ms since the epoch) for heartbeat and event times. @default Date.now */
  now?: () => number;
  /** Monotonic clock in ms for the lease. @default performance.now */
  monotonic?: () => number;
  /** Environment for the API secret's Secrets Manager client. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Where another node's agent API listens. @default the host of its conninfo, at this node's
   * rest_api_listen port (every node of a cluster listens on the same port)
   */
  apiAddressOf?: (node: NodeRecord) => AskTarget | undefined;
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
  lease: LeaseRenewalStats;
  /** The lease stands on the standbys' failsafe confirmations. */
  failsafe: boolean;
  /** Lag samples taken between ticks (rest_api_lag_sample_ms); 0 when none run. */
  lagSamples: number;
}

export class AgentDaemon {
  private readonly config: AgentConfig;
  private readonly store: ClusterStateStore;
  private readonly log: Logger;
  private readonly notifier: Notifier;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private readonly timings: LeaseTimings;
  private readonly checker: ReachabilityChecker;
  private readonly publisher: HeartbeatPublisher;
  private readonly renewer: LeaseRenewer;
  private readonly guard: LeaseGuard;
  private readonly watchdog: LeaseWatchdog;
  private readonly watch: LocalServerWatch;
  /** The idle session to the primary, made by the first tick that reaches it (see {@link followPrimary}). */
  private upstreamWatch: UpstreamWatch | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly api: AgentApiServer | undefined;
  private readonly failsafePath: FailsafePath | undefined;
  private readonly lagSampler: LagSampler | undefined;
  /** When the latest tick's probe of the local server started: a lag sample sent before it is older. */
  private probeSentMono = -Infinity;
  private secret: Buffer | undefined;
  private bootIdText: string | undefined;
  /** Confirmations are recorded one at a time (each writes the promise file). */
  private confirming: Promise<unknown> = Promise.resolve();
  private inFailsafe = false;
  private failsafeSinceMono = 0;
  private lastTickMono: number | null = null;
  /** event_notification_command, when one is set: started with the daemon. */
  private eventCommands: EventCommandRunner | undefined;

  private running = false;
  private stopping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tickInFlight: Promise<void> | undefined;
  /** A wake-up that arrived during a tick: the next tick runs right after it. */
  private wakeRequested = false;
  private ticks = 0;
  private lastWatchdogMono = -Infinity;

  private loaded: LoadedCluster | undefined;
  private server: ServerState | null = null;
  private reach = new Map<number, Reachability>();
  private fencing = false;
  private fenced = false;
  private noSyncSinceMono: number | null = null;
  /** The synchronous standbys' flush progress (judgeSync). */
  private syncProgress: SyncProgress = new Map();
  /** Set on the tick that saw the local server leave recovery (a promotion): see judgeSync. */
  private promotedAtMono: number | null = null;

  constructor(deps: AgentDaemonDeps) {
    const c = deps.config;
    this.config = c;
    this.store = deps.store;
    this.log = deps.log;
    this.notifier = deps.notifier ?? { watchdogMs: undefined, notify: async () => undefined };
    this.now = deps.now ?? Date.now;
    this.monotonic = deps.monotonic ?? (() => performance.now());
    this.timings = leaseTimings(c);
    this.checker = new ReachabilityChecker(c.connection_check_type, c.connection_check_query);
    this.watch = new LocalServerWatch(c.conninfo, this.checkTimeoutMs(), () => this.wake('the session to the local server was closed'));
    this.guard = new LeaseGuard({
      timings: this.timings,
      monotonic: this.monotonic,
      onLost: (why) => void this.selfFence('lease_lost', why),
    });
    this.renewer = new LeaseRenewer({
      store: deps.leaseStore ?? deps.store,
      clusterId: c.cluster_id,
      nodeId: c.node_id,
      timings: this.timings,
      log: this.log,
      now: this.now,
      monotonic: this.monotonic,
      eligible: () => runsAsPrimary(this.server) && !this.fenced && !this.fencing,
      onRenewed: (sentMono) => {
        this.guard.extend('renewal', sentMono);
        this.watchdog.refresh();
        this.leaveFailsafe(true, 'the lease was renewed again');
      },
    });
    this.watchdog = new LeaseWatchdog({
      file: watchdogDeadlineFile(c.agent_state_dir, c.node_id),
      dataDir: c.data_directory,
      log: this.log,
      monotonic: this.monotonic,
      refreshEveryMs: this.timings.renewEveryMs,
      deadlineMono: () => watchdogDeadlineMono(this.guard.latestGroundMono(), this.monotonic(), this.timings),
      term: () => this.renewer.term ?? this.loaded?.snapshot.cluster.term ?? 0,
      onFenced: (detail) => {
        this.log.log('ERROR', detail);
        void this.selfFence('lease_lost', detail);
      },
    });
    this.env = deps.env ?? process.env;
    const apiPort = parseHostPort(c.rest_api_listen)?.port ?? null;
    const addressOf = deps.apiAddressOf ?? ((node: NodeRecord) => (apiPort === null ? undefined : { nodeId: node.node_id, host: hostPort(node.conninfo).host, port: apiPort }));
    this.api = c.rest_api_listen
      ? new AgentApiServer({
          listen: c.rest_api_listen,
          facts: () => this.apiFacts(),
          monotonic: this.monotonic,
          secret: () => this.secret,
          confirm: (req) => this.confirm(req),
          nodeId: c.node_id,
          log: this.log,
        })
      : undefined;
    this.lagSampler =
      c.rest_api_listen && c.rest_api_lag_sample_ms > 0
        ? new LagSampler({
            periodMs: c.rest_api_lag_sample_ms,
            monotonic: this.monotonic,
            session: () => this.watch.current,
            // Only a standby's answers use it; a primary or a server that is down is the tick's business.
            wanted: () => this.running && this.server?.accepting_connections === true && this.server.in_recovery === true,
          })
        : undefined;
    this.failsafePath =
      c.rest_api_listen && c.failsafe_mode
        ? new FailsafePath({
            clusterId: c.cluster_id,
            nodeId: c.node_id,
            timings: this.timings,
            log: this.log,
            monotonic: this.monotonic,
            secret: () => this.secret,
            nodes: () => this.loaded?.snapshot.nodes ?? [],
            term: () => this.renewer.term,
            eligible: () => this.guard.isPrimary && runsAsPrimary(this.server) && this.renewer.holds() && !this.fenced && !this.fencing,
            latestGroundMono: () => this.guard.latestGroundMono(),
            addressOf,
            onGround: (sinceMono) => this.failsafeGround(sinceMono),
          })
        : undefined;
    this.publisher = new HeartbeatPublisher({
      store: deps.store,
      clusterId: c.cluster_id,
      nodeId: c.node_id,
      heartbeatIntervalMs: c.heartbeat_interval_secs * 1000,
      leaseMs: this.timings.leaseMs,
      monitoringHistory: c.monitoring_history,
      log: this.log,
      now: this.now,
      monotonic: this.monotonic,
      report: () => ({
        server: this.server,
        reachability: [...this.reach.values()],
        attention: attention(this.server, this.reach.values(), this.me(), this.loaded?.snapshot.cluster, c.node_id),
        signature: signature(this.server, this.reach.values()),
        primary: this.guard.isPrimary,
      }),
      onLoaded: (loaded) => this.adopt(loaded),
      cluster: () => this.loaded,
    });
  }

  status(): AgentStatus {
    return {
      running: this.running,
      ticks: this.ticks,
      heartbeatsWritten: this.publisher.heartbeatsWritten,
      heartbeatFailures: this.publisher.heartbeatFailures,
      lastServer: this.server,
      cluster: this.loaded?.snapshot.cluster ?? null,
      fenced: this.fenced,
      queuedEvents: this.publisher.queuedEvents(),
      lease: { ...this.renewer.stats },
      failsafe: this.inFailsafe,
      lagSamples: this.lagSampler?.samples ?? 0,
    };
  }

  /** Starts monitoring: applies the startup rule, runs the first tick, then tells systemd READY=1. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const saved = await loadAgentState(this.config, this.log);
    this.publisher.restore(saved.seq, saved.events);
    if (this.config.event_notification_command.trim() !== '') {
      // Where the last run stopped, but never more than an hour back: a node down for a day does
      // not replay a day of notifications.
      const floorMs = Math.max(saved.notified_until ?? this.now(), this.now() - 3_600_000);
      this.eventCommands = new EventCommandRunner({
        config: this.config,
        store: this.store,
        log: this.log,
        now: this.now,
        cluster: () => this.loaded,
        record: (event, successful, details) => this.publisher.queueEvent(event, successful, details),
        floorMs: floorMs + (saved.notified_until === undefined ? 0 : 1),
      });
    }
    this.log.log('INFO', 'agent starting', { node_id: this.config.node_id, cluster_id: this.config.cluster_id, version: PGVIGIL_VERSION, lease: this.timings });
    this.publisher.queueEvent('agent_start', true, `pgvigil agent ${PGVIGIL_VERSION} started on node ${this.config.node_id}`);
    await this.startApi();
    await this.startupRule();
    this.watchdog.start();
    this.renewer.start();
    this.failsafePath?.start();
    // In flight like any other tick: a wake-up meanwhile runs the next one right after it, rather
    // than start a second chain of ticks.
    this.tickInFlight = this.tick().finally(() => (this.tickInFlight = undefined));
    await this.tickInFlight;
    await this.notifier.notify('READY=1');
    this.schedule(this.wakeRequested ? 0 : undefined);
    this.lagSampler?.start();
    this.eventCommands?.start();
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
    await this.lagSampler?.stop();
    await this.watch.close();
    await this.notifier.notify('STOPPING=1');
    this.log.log('INFO', 'agent stopping', { reason });
    await this.tickInFlight?.catch(() => undefined);
    await this.upstreamWatch?.close();
    // The lease is left to run out: a stopped agent cannot fence, so it stops renewing first.
    this.guard.stop();
    this.watchdog.stop();
    await this.failsafePath?.stop();
    await this.renewer.stop();
    await this.api?.stop();
    await this.eventCommands?.stop();
    await withDeadline(this.publisher.running, 5000);
    this.publisher.queueEvent('agent_stop', true, `pgvigil agent stopped on node ${this.config.node_id}: ${reason}`);
    await withDeadline(this.publisher.flushEvents(), 5000);
    await this.checker.closeAll();
    try {
      const notified = this.eventCommands ? { notified_until: this.eventCommands.notifiedUntil } : {};
      await saveAgentState(this.config, { ...this.publisher.saved(), ...notified });
    } catch (error) {
      this.log.log('WARNING', 'unable to save agent state', { error: String(error) });
    }
  }

  /** The API answers from the first tick on; it failing to start leaves the rest of the agent running. */
  private async startApi(): Promise<void> {
    if (!this.api) return;
    try {
      this.secret = await loadApiSecret(this.config, this.env);
      if (!this.secret && this.failsafePath) this.log.log('WARNING', 'no API secret (rest_api_secret_file or rest_api_secret_arn): failsafe mode cannot ask or confirm');
    } catch (error) {
      // The message names the file or ARN, never the secret.
      this.log.log('ERROR', 'unable to read the API secret: failsafe mode cannot ask or confirm', { error: (error as Error).message });
    }
    try {
      await this.api.start();
    } catch (error) {
      this.log.log('ERROR', 'unable to start the agent API', { listen: this.config.rest_api_listen, error: String(error) });
    }
  }

  /** Bound port of the agent API (tests listen on port 0). */
  get apiPort(): number | undefined {
    return this.api?.port;
  }

  /**
   * What the API answers from: the latest tick's facts, with a standby's positions and replay delay
   * from the latest lag sample when that was sent after the tick's probe, and the lease as it
   * stands now.
   */
  private apiFacts(): ApiFacts {
    const cluster = this.loaded?.snapshot.cluster;
    const primaryHb = cluster ? this.loaded?.snapshot.heartbeats.find((h) => h.node_id === cluster.primary_node_id) : undefined;
    return {
      clusterId: this.config.cluster_id,
      nodeId: this.config.node_id,
      nodeName: this.config.node_name,
      version: PGVIGIL_VERSION,
      server: this.withLatestLag(this.server),
      fenced: this.fenced || this.fencing,
      term: cluster?.term ?? null,
      primaryNodeId: cluster?.primary_node_id ?? null,
      leaseHeld: this.guard.verdict().state === 'held' && this.renewer.holds(),
      failsafe: this.inFailsafe,
      primaryLsn: primaryHb?.server?.current_lsn ?? null,
      lastTickMono: this.lastTickMono,
      livenessMs: Math.max(10_000, 3 * this.config.monitor_interval_secs * 1000 + 2 * this.checkTimeoutMs()),
    };
  }

  private withLatestLag(server: ServerState | null): ServerState | null {
    const latest = this.lagSampler?.latest;
    if (!server || server.in_recovery !== true || !latest || latest.sentMono <= this.probeSentMono || !latest.sample.in_recovery) return server;
    const { receive_lsn, replay_lsn, replication_lag_secs } = latest.sample;
    return { ...server, receive_lsn, replay_lsn, replication_lag_secs };
  }

  /**
   * A primary asks this node to confirm that it still sees it. The promise is on disk before the
   * answer leaves, and a promote that started meanwhile wins (docs/architecture.md, "Failsafe mode").
   */
  private confirm(req: ConfirmRequest): Promise<ConfirmDecision & { candidates?: number[] }> {
    const run = this.confirming.then(() => this.confirmNow(req));
    this.confirming = run.catch(() => undefined);
    return run;
  }

  private async confirmNow(req: ConfirmRequest): Promise<ConfirmDecision & { candidates?: number[] }> {
    const c = this.config;
    if (!c.failsafe_mode) return { confirm: false, why: 'failsafe_mode is off on this node' };
    if (!c.agent_state_dir) return { confirm: false, why: 'this node has no agent_state_dir to record its promise in' };
    const d = decideConfirm(req, { nodeId: c.node_id, clusterId: c.cluster_id, server: this.server, fenced: this.fenced || this.fencing, cluster: this.loaded?.snapshot.cluster, promoting: await promoting(c) });
    if (!d.confirm) {
      this.log.log('NOTICE', 'failsafe confirmation refused', { primary: req.nodeId, term: req.term, why: d.why });
      return d;
    }
    this.bootIdText ??= await bootId();
    await recordPromise(c, { boot_id: this.bootIdText, confirmed_mono_ms: hostMonotonicMs(), primary_node_id: req.nodeId, term: req.term });
    if (await promoting(c)) return { confirm: false, why: 'this node is being promoted' };
    this.log.log('DEBUG', 'failsafe confirmation given', { primary: req.nodeId, term: req.term });
    return { confirm: true, candidates: failsafeCandidates(this.loaded?.snapshot.nodes ?? [], req.nodeId) };
  }

  /** Every standby confirmed: the lease stands from when the oldest of them was asked. */
  private failsafeGround(sinceMono: number): void {
    if (this.fenced || this.fencing) return;
    this.guard.extend('failsafe confirmation', sinceMono);
    this.watchdog.refresh();
    if (this.inFailsafe || this.guard.verdict().state !== 'held') return;
    this.inFailsafe = true;
    this.failsafeSinceMono = this.monotonic();
    this.log.log('WARNING', 'failsafe: the lease cannot be renewed; serving on every standby\'s confirmation');
    this.publisher.queueEvent('failsafe_entered', true, `node ${this.config.node_id} cannot renew its lease in DynamoDB and keeps serving: every active standby confirms it still sees it`);
  }

  private leaveFailsafe(successful: boolean, why: string): void {
    this.failsafePath?.reset();
    if (!this.inFailsafe) return;
    this.inFailsafe = false;
    const secs = ((this.monotonic() - this.failsafeSinceMono) / 1000).toFixed(1);
    this.log.log(successful ? 'NOTICE' : 'ERROR', `failsafe left after ${secs} s: ${why}`);
    this.publisher.queueEvent('failsafe_left', successful, `node ${this.config.node_id} left failsafe after ${secs} s: ${why}`);
  }

  private schedule(delayMs = this.config.monitor_interval_secs * 1000): void {
    if (!this.running) return;
    // One chain of ticks: at most one timer pending.
    if (this.timer) clearTimeout(this.timer);
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

  private checkTimeoutMs(): number {
    return Math.max(1000, Math.min(5000, this.config.monitor_interval_secs * 1000));
  }

  /** A read of the cluster: kept as the daemon's view, and the lease path learns its term and primary. */
  private adopt(loaded: LoadedCluster): void {
    this.loaded = loaded;
    this.renewer.observe(loaded.snapshot.cluster);
  }

  /** hg_repmgr's `node startup` rule: a fenced or superseded former primary never runs as primary. */
  private async startupRule(): Promise<void> {
    const marker = await readFence(this.config.data_directory).catch(() => undefined);
    if (marker) this.fenced = true;
    const loaded = await withDeadline(this.store.load(this.config.cluster_id).catch(() => undefined), this.checkTimeoutMs() * 2);
    if (loaded) this.adopt(loaded);
    const probe = await this.probe();
    if (!probe.accepting_connections || probe.in_recovery !== false) return;
    const why = startupFenceReason(marker, this.loaded?.snapshot.cluster, this.config);
    if (why !== null) {
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
    const witnessWithoutPg = this.me()?.type === 'witness' && !(await exists(this.config.data_directory));

    // 1. the local server
    if (witnessWithoutPg) this.server = null;
    else await this.checkLocalServer(now, mono);

    // 2. the other nodes
    await this.checkOthers(now);

    // 3. synchronous replication downgrade/restore (primary only)
    if (this.config.sync_downgrade_after_secs > 0) await this.syncReplication(mono).catch((error: unknown) => this.log.log('WARNING', 'synchronous replication check failed', { error: String(error) }));

    // 4. the lease: its own timer judges it; this covers a timer that could not run on time
    this.guard.check();

    // 5. heartbeat when due or when something changed
    this.publisher.tick(signature(this.server, this.reach.values()), mono);

    this.lastTickMono = this.monotonic();

    // 6. systemd watchdog
    const wd = this.notifier.watchdogMs;
    if (wd !== undefined && mono - this.lastWatchdogMono >= wd / 3) {
      this.lastWatchdogMono = mono;
      void this.notifier.notify('WATCHDOG=1');
    }
  }

  private async checkLocalServer(now: number, mono: number): Promise<void> {
    const sentMono = this.monotonic();
    const probe = await this.probe();
    this.probeSentMono = sentMono;
    const prev = this.server;
    // While a self-fence runs, it decides when the node counts as fenced (marker written, server
    // stopped, event queued), not a tick that the stopping server woke half-way through.
    if (!this.fencing) this.fenced = (await readFence(this.config.data_directory).catch(() => undefined)) !== undefined;
    if (probe.accepting_connections) this.watch.open();
    // After an agent restart, the heartbeat it wrote before is where the last known facts survive.
    const before = prev ?? this.loaded?.snapshot.heartbeats.find((h) => h.node_id === this.config.node_id)?.server ?? null;
    this.server = serverState(probe, prev, before, now, this.fenced);
    const change = localTransition(prev, this.server);
    if (change === 'disconnected') {
      this.log.log('WARNING', 'unable to connect to the local node', { error: probe.error });
      this.publisher.queueEvent('repmgrd_local_disconnect', false, `unable to connect to local node ${this.config.node_id}: ${probe.error ?? 'not accepting connections'}`);
    } else if (change === 'reconnected') {
      this.log.log('NOTICE', 'reconnected to the local node');
      this.publisher.queueEvent('repmgrd_local_reconnect', true, `reconnected to local node ${this.config.node_id}`);
    }
    // The lease clock of a primary starts when it becomes one; the renewer starts at once.
    const primary = runsAsPrimary(this.server);
    if (primary && prev?.in_recovery === true) this.promotedAtMono = mono;
    if (primary && !this.guard.isPrimary) {
      this.guard.primaryAt(mono);
      this.watchdog.refresh();
      this.renewer.poke();
    }
    // A fence holds for as long as its marker exists, whoever started the server meanwhile.
    if (primary && this.fenced && !this.fencing) {
      await this.selfFence('superseded', 'the server runs as a primary although it carries a fence marker');
    }
    if (!probe.postmaster_running || probe.in_recovery === true) this.guard.notPrimary();
  }

  private async checkOthers(now: number): Promise<void> {
    const me = this.me();
    const cluster = this.loaded?.snapshot.cluster;
    const nodes = (this.loaded?.snapshot.nodes ?? []).filter((n) => n.active && n.node_id !== this.config.node_id && n.type !== 'witness');
    const timeout = this.checkTimeoutMs();
    const results = await Promise.all(nodes.map(async (node) => ({ node, ...(await this.checker.check(node.conninfo, timeout)) })));
    const watched = new Set([me?.upstream_node_id, cluster?.primary_node_id].filter((id): id is number => typeof id === 'number'));
    const { reach, changes } = nextReachability(this.reach, results, watched, now);
    for (const { node, change, detail } of changes) {
      if (change === 'disconnected') {
        this.log.log('WARNING', `unable to reach upstream node ${node.node_id}`, { detail });
        this.publisher.queueEvent('repmgrd_upstream_disconnect', false, `unable to connect to upstream node "${node.node_name}" (ID: ${node.node_id}): ${detail}`);
      } else {
        this.log.log('NOTICE', `upstream node ${node.node_id} reachable again`);
        this.publisher.queueEvent('repmgrd_upstream_reconnect', true, `reconnected to upstream node "${node.node_name}" (ID: ${node.node_id})`);
      }
    }
    this.reach = reach;
    await this.checker.retain(new Set(nodes.map((n) => n.conninfo)));
    this.followPrimary(nodes.find((n) => n.node_id === cluster?.primary_node_id));
  }

  /**
   * Keeps an idle session to the cluster's primary while it is reachable (none on the primary
   * itself): the session's loss runs the next check at once, so this node reports a crashed primary
   * within milliseconds rather than at its next interval (docs/agent.md, "Waking early"). Only the
   * check's own result is reported; the wake-up changes when it runs.
   */
  private followPrimary(primary: NodeRecord | undefined): void {
    if (!this.running) return; // a stopping daemon, or a tick run by hand, keeps no session
    this.upstreamWatch ??= new UpstreamWatch({
      timeoutMs: this.checkTimeoutMs(),
      reopenMs: this.config.monitor_interval_secs * 1000,
      retryAfterFailureMs: 30_000,
      monotonic: this.monotonic,
      onLost: () => this.wake('the session to the primary was closed'),
      onOpenFailed: (_conninfo, error) =>
        this.log.log('WARNING', 'unable to keep an idle session to the primary: its crash is seen at the next check instead', {
          error: `${error.message}${(error as { detail?: string }).detail ? `: ${(error as { detail?: string }).detail?.split('\n')[0]}` : ''}`,
        }),
    });
    this.upstreamWatch.follow(primary && this.reach.get(primary.node_id)?.ok === true ? primary.conninfo : undefined);
  }

  private async syncReplication(mono: number): Promise<void> {
    const justPromoted = this.promotedAtMono !== null;
    this.promotedAtMono = null;
    const s = this.server;
    const primary = s?.accepting_connections === true && s.in_recovery === false && !this.fenced;
    const decision = judgeSync({
      server: s,
      fenced: this.fenced,
      saved: primary ? await savedSyncNames(this.config.data_directory) : undefined,
      justPromoted,
      noSyncSinceMono: this.noSyncSinceMono,
      progress: this.syncProgress,
      nowMono: mono,
      downgradeAfterMs: this.config.sync_downgrade_after_secs * 1000,
    });
    this.noSyncSinceMono = decision.noSyncSinceMono;
    this.syncProgress = decision.progress;
    if (decision.action === 'restore') {
      await restoreSync(this.config.conninfo, this.config.data_directory, decision.names, this.checkTimeoutMs());
      this.log.log('NOTICE', 'synchronous replication restored', { synchronous_standby_names: decision.names });
      this.publisher.queueEvent('sync_restored', true, `synchronous_standby_names restored to "${decision.names}": a synchronous standby has caught up`);
    } else if (decision.action === 'downgrade') {
      await downgradeSync(this.config.conninfo, this.config.data_directory, decision.names, this.checkTimeoutMs());
      this.log.log('WARNING', 'switched to asynchronous replication', { synchronous_standby_names: decision.names, just_promoted: decision.justPromoted });
      this.publisher.queueEvent(
        'sync_downgraded',
        true,
        decision.justPromoted
          ? `promoted with no synchronous standby following yet; synchronous_standby_names "${decision.names}" cleared until one has caught up`
          : `no synchronous standby connected and acknowledging for ${this.config.sync_downgrade_after_secs} s; synchronous_standby_names "${decision.names}" cleared`,
      );
    }
  }

  private async selfFence(reason: 'lease_lost' | 'superseded', why: string): Promise<void> {
    if (this.fencing || (reason === 'lease_lost' && this.fenced)) return;
    this.fencing = true;
    this.log.log('ERROR', `fencing the local server: ${why}`, { reason });
    const term = this.loaded?.snapshot.cluster.term ?? 0;
    try {
      this.leaveFailsafe(false, 'the confirmations stopped; fencing');
      await applyFence({ config: this.config }, reason, term);
      this.fenced = true;
      this.guard.notPrimary();
      this.publisher.queueEvent(reason === 'lease_lost' ? 'lease_lost' : 'fence_applied', true, `node ${this.config.node_id} fenced itself: ${why}`);
      this.log.log('NOTICE', 'local server stopped and fenced', { reason });
    } catch (error) {
      this.log.log('ERROR', 'unable to fence the local server', { error: String(error) });
      this.publisher.queueEvent('fence_applied', false, `node ${this.config.node_id} could not fence itself: ${String(error)}`);
    } finally {
      this.fencing = false;
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
