/**
 * A simulated cluster for the controller's liveness property (test/unit/controller-liveness
 * .property.test.ts): three PostgreSQL hosts and a witness with their agents, SSM, the Elastic IP
 * and EC2 StopInstances, all on one virtual clock, around the *real* evaluator, sagas and engine
 * (functions/evaluator.ts with an in-memory state table).
 *
 * What the hosts do is modelled the way the agent and PostgreSQL behave:
 * - every node's data is the list of write ids it holds; a standby streams from its upstream when
 *   its list is a prefix of the upstream's (otherwise it has diverged and needs a rewind);
 * - the primary takes one client write a second; with `sync`, a write is acknowledged once its one
 *   named synchronous standby (`FIRST 1 (<the other node with the lowest id>)`) holds it, otherwise
 *   at once. One name only: with several (`FIRST 1 (a, b)`), the primary may switch to `b` after its
 *   last report reached the controller (within the lease it still holds), and the engine, which
 *   trusts that last report, could promote `a` without writes `b` acknowledged — a limit of the
 *   candidate rules, not of the controller's liveness, that this model does not exercise;
 * - the agent reports a heartbeat every second, checks every other node (reachable when both hosts
 *   are up, neither is cut off and the target's server runs), renews the primary's lease when the
 *   record names it primary in the current term, and fences its primary at the last tick before
 *   `lease_secs` without a renewal, judged before the renewal (as after a freeze); while the agent
 *   is frozen its lease watchdog, a process of its own, stops the server at that same deadline;
 * - agent actions (SSM) check the term like the agent's guard, and do what roles.ts does:
 *   promote (a new timeline), fence, demote, unfence-primary, follow, rejoin (refused while the
 *   server runs, needs the upstream reachable, rewinds a diverged node only with force);
 * - a host that boots again starts PostgreSQL unless it carries a fence marker; a former primary
 *   whose cluster moved on is fenced by its agent at start (hg_repmgr's node startup rule).
 *
 * While a saga waits (its clock sleeps, or it waits for an SSM command), time passes for
 * everyone: the agents tick, and another evaluator may run — the stream triggers and the sweep
 * overlap a live saga just as they do in AWS.
 */
import { DEFAULT_CLUSTER_SETTINGS, type ClusterSettings, type Heartbeat, type NodeRecord, type Reachability, type ReplicationRow } from '../../core/model.js';
import type { Clock, HostAction, HostCommandResult, HostCommands, InstanceFencer, Metrics, VipMover } from '../../core/ports.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';
import type { ControllerDeps, ControllerTimings, Invocation } from '../../functions/controller.js';
import { buildDeps } from '../../functions/environment.js';
import { evaluateCluster } from '../../functions/evaluator.js';
import { silentLogger } from '../../functions/log.js';
import { parseSwitchoverRequest } from '../../functions/switchover.js';
import { switchoverEntry } from '../../functions/switchover-entry.js';
import { MemoryStateStore } from './memory-store.js';

export const CLUSTER = 'sim';
const SYSID = '7311234567890123456';
const START = Date.UTC(2026, 0, 15, 12, 0, 0);
const TICK = 1000;

export interface SimNode {
  id: number;
  name: string;
  witness: boolean;
  hostUp: boolean;
  agentUp: boolean;
  /** Cut off from every other host and from AWS. */
  cut: boolean;
  pgRunning: boolean;
  inRecovery: boolean;
  fenced: boolean;
  timeline: number;
  data: number[];
  /** primary_conninfo: the node it streams from (standbys). */
  upstream: number | null;
  streaming: boolean;
  downSince: number | null;
  lastAcceptingAt: number | null;
  lastRenewOk: number;
  primarySince: number | null;
  seq: number;
  /** Agent's last read of the cluster record. */
  knownTerm: number;
  knownPrimary: number | null;
  reach: Map<number, Reachability>;
  /** What the agent last saw of its server's replication while it accepted connections (it keeps reporting it when the server is down). */
  lastRows: ReplicationRow[];
  lastSyncNames: string | null;
}

export interface ModelOptions {
  sync: boolean;
  autoRejoin: boolean;
  settings?: Partial<ClusterSettings>;
}

/** A fault of the schedule: applied at `at` (virtual ms from the start), healed `holdMs` later. */
export type Fault =
  | { kind: 'crash_postmaster'; node: number }
  | { kind: 'kill_host'; node: number; holdMs: number }
  | { kind: 'cut'; node: number; holdMs: number }
  | { kind: 'freeze_agent'; node: number; holdMs: number }
  | { kind: 'control_plane_down'; holdMs: number }
  | { kind: 'controller_crash'; afterSteps: number }
  | { kind: 'ssm_fails'; node: number; holdMs: number }
  /** Commands to the node take effect, but their answers come back only after `delayMs` (a slow host or SSM). */
  | { kind: 'ssm_slow'; node: number; holdMs: number; delayMs: number }
  | { kind: 'switchover'; candidate: number };

export class LivenessModel {
  readonly store = new MemoryStateStore();
  readonly nodes: SimNode[] = [];
  now = START;
  controlPlaneUp = true;
  vipHolder: string | null = null;
  /** Write ids acknowledged to a client. */
  readonly acked = new Set<number>();
  readonly violations: string[] = [];
  readonly log: string[] = [];
  private nextWrite = 1;
  private maxTimeline = 2;
  private evaluating = 0;
  private lastEvaluation = 0;
  private lastSweep = 0;
  private crashAfterSteps: number | null = null;
  private ssmDown = new Map<number, number>();
  private ssmSlow = new Map<number, number>();
  private readonly commandNode = new Map<string, number>();
  private readonly heals: { at: number; heal: () => void }[] = [];
  private readonly results = new Map<string, HostCommandResult>();
  private commandSeq = 0;
  private invocationSeq = 0;
  readonly settings: ClusterSettings;
  readonly deps: ControllerDeps;

  constructor(readonly options: ModelOptions) {
    this.settings = {
      ...DEFAULT_CLUSTER_SETTINGS,
      heartbeat_interval_secs: 1,
      node_timeout_secs: 3,
      lease_secs: 4,
      clock_skew_margin_ms: 500,
      reconnect_attempts: 2,
      reconnect_interval: 1,
      promote_check_timeout: 10,
      primary_follow_timeout: 10,
      node_rejoin_timeout: 10,
      election_rerun_interval: 5,
      auto_rejoin: options.autoRejoin,
      vip_allocation_id: 'eipalloc-sim',
      ...options.settings,
    };
    const timings: ControllerTimings = { pollIntervalMs: 200, fenceWaitMs: 5000, demoteWaitMs: 10_000, stepRetryDelayMs: 500, maxStepAttempts: 3, ownerLeaseMs: 5000, safetyMarginMs: 100, bootWaitMs: 30_000 };
    const clock: Clock = { now: () => this.now, sleep: (ms) => this.advance(ms) };
    const noMetrics: Metrics = { put: () => undefined, flush: () => undefined };
    // The controller as every process builds it (functions/environment.ts), on the virtual clock, with
    // the simulated table, hosts, instances and Elastic IP in AWS's place; no topic, flight record or
    // Route 53 record.
    this.deps = buildDeps(
      { table: 'pgvigil-liveness-model', topicArn: null, documentPrefix: 'pgvigil' },
      {
        clock,
        log: silentLogger,
        overrides: { store: this.store, hosts: this.hosts(), vip: this.vip(), fencer: this.fencer(), metrics: noMetrics, timings, recorder: undefined, route53: undefined },
      },
    );
  }

  // ------------------------------------------------------------------ setup

  async start(): Promise<void> {
    for (let id = 1; id <= 4; id++) {
      this.nodes.push({
        id,
        name: id === 4 ? 'witness' : `pg${id}`,
        witness: id === 4,
        hostUp: true,
        agentUp: true,
        cut: false,
        pgRunning: id !== 4,
        inRecovery: id !== 1,
        fenced: false,
        timeline: 2,
        data: [],
        upstream: id === 1 || id === 4 ? null : 1,
        streaming: id === 2 || id === 3,
        downSince: null,
        lastAcceptingAt: this.now,
        lastRenewOk: this.now,
        primarySince: id === 1 ? this.now : null,
        seq: 0,
        knownTerm: 1,
        knownPrimary: 1,
        reach: new Map(),
        lastRows: [],
        lastSyncNames: null,
      });
    }
    await this.store.createCluster({
      cluster_id: CLUSTER,
      term: 1,
      primary_node_id: 1,
      paused: false,
      operation: null,
      lease: null,
      lease_observation: null,
      settings: this.settings,
      version: 1,
      created_at: this.now,
      updated_at: this.now,
    });
    for (const n of this.nodes) await this.store.putNode(this.record(n));
    this.vipHolder = instance(1);
    await this.tickAgents();
  }

  private record(n: SimNode): NodeRecord {
    return {
      cluster_id: CLUSTER,
      node_id: n.id,
      node_name: n.name,
      type: n.witness ? 'witness' : n.id === 1 ? 'primary' : 'standby',
      upstream_node_id: n.witness || n.id === 1 ? null : 1,
      active: true,
      location: `az-${n.id}`,
      priority: n.witness ? 0 : 100,
      conninfo: `host=${n.name}`,
      repluser: 'repmgr',
      slot_name: null,
      config_file: null,
      instance_id: instance(n.id),
      fenced: false,
      instance_stopped_at: null,
      registered_at: this.now,
      updated_at: this.now,
    };
  }

  node(id: number): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  // ------------------------------------------------------------------ time

  /** Moves the clock forward, ticking agents every second and letting evaluators run. */
  async advance(ms: number): Promise<void> {
    const target = this.now + Math.max(0, ms);
    while (this.now < target) {
      const step = Math.min(TICK - (this.now % TICK) || TICK, target - this.now);
      this.now += step;
      if (this.now % TICK === 0) {
        this.runHeals();
        this.writeAndReplicate();
        await this.tickAgents();
        this.checkSafety();
        await this.maybeEvaluate();
      }
    }
  }

  private runHeals(): void {
    for (const h of this.heals.filter((x) => x.at <= this.now)) {
      h.heal();
      this.heals.splice(this.heals.indexOf(h), 1);
    }
  }

  /** Every transient fault healed (crashed postmasters stay down: only the controller restarts them). */
  healAll(): void {
    for (const h of [...this.heals]) h.heal();
    this.heals.length = 0;
  }

  private async maybeEvaluate(): Promise<void> {
    if (!this.controlPlaneUp || this.evaluating >= 2 || this.now - this.lastEvaluation < TICK) return;
    this.lastEvaluation = this.now;
    const sweep = this.now - this.lastSweep >= 10_000;
    if (sweep) this.lastSweep = this.now;
    await this.evaluate(sweep);
  }

  private invocation(): Invocation {
    this.invocationSeq += 1;
    const crashAt = this.crashAfterSteps;
    this.crashAfterSteps = null;
    let steps = 0;
    return {
      owner: `sim-${this.invocationSeq}`,
      remainingMs: () => 900_000,
      ...(crashAt === null
        ? {}
        : {
            crashAfter: (step: string) => {
              steps += 1;
              if (steps >= crashAt) throw new SimulatedCrash(`controller died after step "${step}"`);
            },
          }),
    };
  }

  private async evaluate(sweep: boolean): Promise<void> {
    this.evaluating += 1;
    try {
      const r = await evaluateCluster(this.deps, this.invocation(), CLUSTER, sweep ? { sweep: true } : {});
      if (r.saga !== null && r.saga !== 'in_progress') this.log.push(`${this.t()} evaluation: ${r.code} → ${r.saga}: ${r.reasons[0] ?? ''}`);
    } catch (error) {
      if (!(error instanceof SimulatedCrash)) throw error;
      this.log.push(`${this.t()} ${error.message}`);
    } finally {
      this.evaluating -= 1;
    }
  }

  t(): string {
    return `+${((this.now - START) / 1000).toFixed(1)}s`;
  }

  // ------------------------------------------------------------------ faults

  apply(f: Fault): void {
    this.log.push(`${this.t()} fault ${JSON.stringify(f)}`);
    const later = (holdMs: number, heal: () => void): void => void this.heals.push({ at: this.now + holdMs, heal });
    switch (f.kind) {
      case 'crash_postmaster': {
        const n = this.node(f.node);
        if (!n.witness && n.pgRunning) this.stopPg(n);
        break;
      }
      case 'kill_host': {
        const n = this.node(f.node);
        if (!n.hostUp) break;
        this.powerOff(n);
        later(f.holdMs, () => this.boot(n));
        break;
      }
      case 'cut': {
        const n = this.node(f.node);
        n.cut = true;
        later(f.holdMs, () => void (n.cut = false));
        break;
      }
      case 'freeze_agent': {
        const n = this.node(f.node);
        if (!n.agentUp || !n.hostUp) break;
        n.agentUp = false;
        later(f.holdMs, () => void (n.agentUp = n.hostUp));
        break;
      }
      case 'control_plane_down':
        this.controlPlaneUp = false;
        later(f.holdMs, () => void (this.controlPlaneUp = true));
        break;
      case 'controller_crash':
        this.crashAfterSteps = f.afterSteps;
        break;
      case 'ssm_fails':
        this.ssmDown.set(f.node, this.now + f.holdMs);
        later(f.holdMs, () => void this.ssmDown.delete(f.node));
        break;
      case 'ssm_slow':
        this.ssmSlow.set(f.node, f.delayMs);
        later(f.holdMs, () => void this.ssmSlow.delete(f.node));
        break;
      case 'switchover':
        break; // run by the driver: it takes time
    }
  }

  async switchover(candidate: number): Promise<void> {
    if (!this.controlPlaneUp) return;
    this.evaluating += 1;
    try {
      const r = await switchoverEntry(this.deps, this.invocation(), parseSwitchoverRequest({ cluster_id: CLUSTER, candidate_node_id: candidate, siblings_follow: true }));
      this.log.push(`${this.t()} switchover to ${candidate}: ${r.outcome ?? (r.ok ? 'ok' : 'refused')}: ${r.message}`);
    } catch (error) {
      if (!(error instanceof SimulatedCrash)) throw error;
      this.log.push(`${this.t()} ${error.message}`);
    } finally {
      this.evaluating -= 1;
    }
  }

  private stopPg(n: SimNode): void {
    n.pgRunning = false;
    n.streaming = false;
    n.downSince = this.now;
    n.primarySince = null;
  }

  private powerOff(n: SimNode): void {
    n.hostUp = false;
    n.agentUp = false;
    if (n.pgRunning) this.stopPg(n);
  }

  /** A host booting: PostgreSQL starts unless fenced; the agent fences a former primary whose cluster moved on. */
  private boot(n: SimNode): void {
    if (n.hostUp) return;
    n.hostUp = true;
    n.agentUp = true;
    if (n.witness || n.fenced) return;
    const movedOn = !n.inRecovery && (this.recordNow().primary_node_id !== n.id || this.recordNow().term > n.knownTerm);
    if (movedOn) {
      n.fenced = true;
      return;
    }
    n.pgRunning = true;
    n.downSince = null;
    n.lastAcceptingAt = this.now;
    if (!n.inRecovery) {
      n.primarySince = this.now;
      n.lastRenewOk = this.now;
    }
  }

  private recordNow(): { term: number; primary_node_id: number | null } {
    const c = this.store.clusters.get(CLUSTER);
    return { term: c?.term ?? 0, primary_node_id: c?.primary_node_id ?? null };
  }

  // ------------------------------------------------------------------ hosts

  /** Reachable over the network from another host (and from SSM / AWS for `aws`). */
  private online(n: SimNode): boolean {
    return n.hostUp && !n.cut;
  }

  writable(n: SimNode): boolean {
    return !n.witness && n.hostUp && n.pgRunning && !n.inRecovery && !n.fenced;
  }

  private writeAndReplicate(): void {
    for (const p of this.nodes.filter((n) => this.writable(n) && !n.cut)) p.data.push(this.nextWrite++);
    // Standbys stream from their upstream (cascades too), in passes so a chain settles in one tick.
    for (let pass = 0; pass < 3; pass++) {
      for (const n of this.nodes) {
        if (n.witness || !n.pgRunning || !n.inRecovery || n.upstream === null) continue;
        const u = this.node(n.upstream);
        const ok = this.online(n) && this.online(u) && u.pgRunning && isPrefix(n.data, u.data);
        n.streaming = ok;
        if (ok) {
          n.data = [...u.data];
          n.timeline = u.timeline;
        }
      }
    }
    for (const p of this.nodes.filter((n) => this.writable(n))) {
      const ackedTo = this.options.sync ? (this.syncStandby(p)?.data.length ?? 0) : p.data.length;
      for (const id of p.data.slice(0, ackedTo)) this.acked.add(id);
    }
  }

  /** The one standby named in `p`'s synchronous_standby_names: the other node with the lowest id. */
  private syncName(p: SimNode): SimNode | undefined {
    return this.nodes.find((n) => n !== p && !n.witness);
  }

  /** The synchronous standby acknowledging `p`'s writes: its named one, while it streams from `p`. */
  private syncStandby(p: SimNode): SimNode | undefined {
    const n = this.syncName(p);
    return n && n.streaming && n.upstream === p.id ? n : undefined;
  }

  /** The lease has run out at the next tick: the agent, or its watchdog while it is frozen, fences now. */
  private leaseRunsOut(n: SimNode): boolean {
    if (!this.writable(n)) return false;
    n.primarySince ??= this.now;
    const base = Math.max(n.lastRenewOk, n.primarySince);
    return this.now - base + TICK >= this.settings.lease_secs * 1000;
  }

  private async tickAgents(): Promise<void> {
    for (const n of this.nodes) {
      if (n.hostUp && !n.agentUp && this.leaseRunsOut(n)) {
        // The agent is frozen; the watchdog beside it holds the same deadline (agent/daemon/watchdog.ts).
        this.log.push(`${this.t()} node ${n.id}: the lease watchdog stops the server (its agent is frozen)`);
        n.fenced = true;
        this.stopPg(n);
      }
      if (!n.hostUp || !n.agentUp) continue;
      const aws = this.controlPlaneUp && !n.cut;
      // The lease, judged before this tick's renewal (a thawed agent fences at once).
      if (this.leaseRunsOut(n)) {
        this.log.push(`${this.t()} node ${n.id} fences itself: lease not renewed`);
        n.fenced = true;
        this.stopPg(n);
      }
      if (n.pgRunning) n.lastAcceptingAt = this.now;
      for (const o of this.nodes) {
        if (o === n) continue;
        const ok = this.online(n) && this.online(o) && o.pgRunning;
        const prev = n.reach.get(o.id);
        n.reach.set(o.id, { node_id: o.id, ok, checked_at: this.now, last_ok_at: ok ? this.now : (prev?.last_ok_at ?? null), failures: ok ? 0 : (prev?.failures ?? 0) + 1 });
      }
      if (!aws) continue;
      const c = this.store.clusters.get(CLUSTER);
      if (c) {
        n.knownTerm = c.term;
        n.knownPrimary = c.primary_node_id;
        if (this.writable(n) && c.primary_node_id === n.id) {
          const r = await this.store.renewLease(CLUSTER, n.id, c.term, `rvn-${n.id}-${this.now}`, this.now);
          if (r.ok) n.lastRenewOk = this.now;
        }
      }
      await this.store.putHeartbeat(this.heartbeat(n));
    }
  }

  private heartbeat(n: SimNode): Heartbeat {
    n.seq += 1;
    if (n.pgRunning) {
      // Like the agent: the last facts its server gave are reported again while it is down.
      const rows: ReplicationRow[] = [];
      const sync = this.options.sync ? this.syncStandby(n) : undefined;
      for (const s of this.nodes.filter((x) => x !== n && !x.witness && x.streaming && x.upstream === n.id)) {
        const at = lsn(s.data.length);
        rows.push({ application_name: s.name, client_addr: null, state: 'streaming', sync_state: s === sync ? 'sync' : 'async', sent_lsn: at, write_lsn: at, flush_lsn: at, replay_lsn: at });
      }
      n.lastRows = rows;
      n.lastSyncNames = n.inRecovery ? null : this.options.sync ? `FIRST 1 (${this.syncName(n)?.name ?? ''})` : '';
    }
    return {
      cluster_id: CLUSTER,
      node_id: n.id,
      seq: n.seq,
      sent_at: this.now,
      agent_version: 'sim',
      term: n.knownTerm,
      server: n.witness
        ? null
        : {
            postmaster_running: n.pgRunning,
            accepting_connections: n.pgRunning,
            last_accepting_at: n.lastAcceptingAt,
            down_since: n.pgRunning ? null : n.downSince,
            in_recovery: n.inRecovery,
            system_identifier: SYSID,
            timeline: n.timeline,
            current_lsn: n.inRecovery ? null : lsn(n.data.length),
            receive_lsn: n.inRecovery ? lsn(n.data.length) : null,
            replay_lsn: n.inRecovery ? lsn(n.data.length) : null,
            wal_receiver_status: n.pgRunning && n.streaming ? 'streaming' : null,
            wal_receiver_upstream_node_id: n.pgRunning && n.streaming ? n.upstream : null,
            replication: n.lastRows,
            synchronous_standby_names: n.lastSyncNames,
            data_directory_writable: true,
            fenced: n.fenced,
          },
      reachability: [...n.reach.values()],
    };
  }

  private hosts(): HostCommands {
    return {
      send: async (instanceId, action) => {
        const id = `cmd-${++this.commandSeq}`;
        this.commandNode.set(id, nodeOf(instanceId));
        this.results.set(id, await this.carryOut(nodeOf(instanceId), action));
        return id;
      },
      wait: async (commandId, _instanceId, timeoutMs) => {
        const r = this.results.get(commandId) ?? { status: 'Failed', exitCode: null, output: 'unknown command' };
        const slow = this.ssmSlow.get(this.commandNode.get(commandId) ?? 0);
        // An undelivered command costs its whole wait; an answer comes back within a poll, or late on a slow host.
        if (r.status === 'TimedOut' || r.status === 'Undeliverable') await this.advance(Math.min(timeoutMs, 30_000));
        else if (slow !== undefined && slow >= timeoutMs) {
          await this.advance(timeoutMs);
          return { status: 'TimedOut', exitCode: null, output: 'still InProgress' };
        } else await this.advance(slow ?? 300);
        return r;
      },
    };
  }

  /** What the host's SSM agent and pgvigil agent do with an action (agent/actions/roles.ts). */
  private async carryOut(id: number, a: HostAction): Promise<HostCommandResult> {
    const n = this.node(id);
    const fail = (output: string): HostCommandResult => ({ status: 'Failed', exitCode: 1, output });
    if (!this.online(n)) return { status: 'TimedOut', exitCode: null, output: 'host unreachable' };
    if ((this.ssmDown.get(id) ?? 0) > this.now) return { status: 'Undeliverable', exitCode: null, output: 'SSM agent not answering' };
    const record = this.recordNow();
    // The agent's promote says when it refused before promoting anything (core/host-actions.ts).
    const refusal = a.action === 'promote' ? `\n${PROMOTE_NOT_STARTED}` : '';
    if (this.controlPlaneUp && a.term < record.term) return fail(`refusing ${a.action}: term ${a.term} is older than the cluster's ${record.term}${refusal}`);
    switch (a.action) {
      case 'promote': {
        if (n.fenced || !n.pgRunning) return fail(`cannot promote: fenced or not running${refusal}`);
        if (!n.inRecovery) return { status: 'Success', exitCode: 0, output: `node is already primary (timeline ${n.timeline})` };
        const missing = [...this.acked].filter((w) => !n.data.includes(w));
        if (missing.length > 0 && this.options.sync) this.violations.push(`${this.t()} node ${id} promoted without ${missing.length} acknowledged writes`);
        const before = n.timeline;
        n.inRecovery = false;
        n.streaming = false;
        n.upstream = null;
        n.timeline = ++this.maxTimeline;
        n.primarySince = this.now;
        n.lastRenewOk = this.now;
        this.log.push(`${this.t()} node ${id} promoted (timeline ${n.timeline})`);
        return { status: 'Success', exitCode: 0, output: `promoted to primary (timeline ${before} → ${n.timeline})` };
      }
      case 'fence':
        n.fenced = true;
        if (n.pgRunning) this.stopPg(n);
        return { status: 'Success', exitCode: 0, output: 'fenced' };
      case 'demote': {
        if (n.pgRunning && n.inRecovery) return fail('this node is a standby');
        n.fenced = true;
        if (n.pgRunning) this.stopPg(n);
        return { status: 'Success', exitCode: 0, output: `final LSN ${lsn(n.data.length)}` };
      }
      case 'unfence-primary': {
        if (record.primary_node_id !== id) return fail('not the cluster primary');
        const missing = [...this.acked].filter((w) => !n.data.includes(w));
        if (missing.length > 0 && this.options.sync) this.violations.push(`${this.t()} node ${id} restarted as primary without ${missing.length} acknowledged writes`);
        n.fenced = false;
        n.pgRunning = true;
        n.inRecovery = false;
        n.streaming = false;
        n.upstream = null;
        n.downSince = null;
        n.primarySince = this.now;
        n.lastRenewOk = this.now;
        this.log.push(`${this.t()} node ${id} unfenced as primary`);
        return { status: 'Success', exitCode: 0, output: 'unfenced' };
      }
      case 'follow':
      case 'rejoin': {
        const u = this.node(a.upstreamNodeId ?? record.primary_node_id ?? 0);
        if (a.action === 'follow' && n.pgRunning && !n.inRecovery) return fail('this node is a primary and cannot follow');
        if (a.action === 'rejoin' && n.pgRunning) {
          return n.inRecovery && n.upstream === u.id && n.streaming ? { status: 'Success', exitCode: 0, output: 'already rejoined' } : fail('the local server is running');
        }
        if (!this.online(u) || !u.pgRunning) return fail(`upstream node ${u.id}: connection refused`);
        if (!isPrefix(n.data, u.data)) {
          if (a.action === 'follow' || !a.forceRewind) return fail('this node has diverged from the upstream');
          n.data = n.data.slice(0, commonPrefix(n.data, u.data));
        }
        n.fenced = false;
        n.pgRunning = true;
        n.inRecovery = true;
        n.upstream = u.id;
        n.downSince = null;
        n.primarySince = null;
        n.data = [...u.data];
        n.timeline = u.timeline;
        n.streaming = true;
        this.log.push(`${this.t()} node ${id} ${a.action}s node ${u.id}`);
        return { status: 'Success', exitCode: 0, output: `${a.action} done` };
      }
      default:
        return { status: 'Success', exitCode: 0, output: '' };
    }
  }

  private vip(): VipMover {
    return {
      current: async () => this.vipHolder,
      moveTo: async (_a, instanceId) => void (this.vipHolder = instanceId),
      detach: async () => void (this.vipHolder = null),
    };
  }

  private fencer(): InstanceFencer {
    return {
      stop: async (instanceId) => {
        const n = this.node(nodeOf(instanceId));
        this.log.push(`${this.t()} instance of node ${n.id} stopped`);
        this.powerOff(n);
        // A stopped instance stays stopped until someone starts it; here, after a minute.
        this.heals.push({ at: this.now + 60_000, heal: () => this.boot(n) });
      },
      start: async (instanceId) => {
        const n = this.node(nodeOf(instanceId));
        this.log.push(`${this.t()} instance of node ${n.id} started by the controller`);
        this.boot(n);
      },
    };
  }

  // ------------------------------------------------------------------ checks

  private checkSafety(): void {
    const writers = this.nodes.filter((n) => this.writable(n) && !n.cut);
    if (writers.length > 1) this.violations.push(`${this.t()} ${writers.length} writable primaries: ${writers.map((n) => n.id).join(', ')}`);
  }

  /** The one writable primary the record names, holding every acknowledged write, behind the VIP; else why not. */
  settledProblem(): string | null {
    const writers = this.nodes.filter((n) => this.writable(n));
    const record = this.recordNow();
    if (writers.length !== 1) return `${writers.length} writable primaries`;
    const p = writers[0] as SimNode;
    if (record.primary_node_id !== p.id) return `node ${p.id} is writable but the record names ${record.primary_node_id}`;
    if (this.vipHolder !== instance(p.id)) return `the VIP is on ${this.vipHolder ?? 'nothing'}, not on node ${p.id}`;
    if (this.options.sync) {
      const missing = [...this.acked].filter((w) => !p.data.includes(w));
      if (missing.length > 0) return `the primary lacks ${missing.length} acknowledged writes`;
    }
    return null;
  }
}

class SimulatedCrash extends Error {}

function instance(id: number): string {
  return `i-sim-${id}`;
}

function nodeOf(instanceId: string): number {
  return Number(instanceId.replace('i-sim-', ''));
}

function lsn(length: number): string {
  return `0/${(0x3000000 + length * 0x100).toString(16).toUpperCase()}`;
}

function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  return a.length <= b.length && a.every((x, i) => b[i] === x);
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
