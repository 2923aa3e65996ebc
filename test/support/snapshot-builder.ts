/**
 * A small fluent builder for {@link ClusterSnapshot}s in tests and benchmarks.
 *
 * `clusterSnapshot()` starts from a healthy cluster at {@link BUILDER_NOW}: node 1 `pg1` primary in
 * eu-west-1a, node 2 `pg2` standby in eu-west-1b, node 3 `pg3` standby in eu-west-1a (the primary's
 * location), node 4 `witness` in eu-west-1c; term 3, timeline 2, every heartbeat 1 s old, every
 * observer reaching the primary, the lease RVN first seen 2 s ago. Helpers then break it the way
 * real failures do (`crashPrimary()`, `silencePrimary()`, `expireLease()` …). `build()` returns a
 * schema-validated deep copy, so a builder can be reused and tests never share objects.
 */
import {
  ClusterSnapshotSchema,
  DEFAULT_CLUSTER_SETTINGS,
  type ClusterRecord,
  type ClusterSettings,
  type ClusterSnapshot,
  type Heartbeat,
  type NodeRecord,
  type NodeType,
  type Reachability,
  type ReplicationRow,
  type ServerState,
} from '../../core/model.js';

/** 2026-01-15T12:00:00Z: the controller time every default snapshot is built around. */
export const BUILDER_NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
export const SYSTEM_IDENTIFIER = '7311234567890123456';
export const CLUSTER_ID = 'main';
export const PRIMARY_LSN = '0/5000060';

export interface BuilderOptions {
  now?: number;
  /** Number of standbys (default 2: nodes 2 and 3). */
  standbys?: number;
  /** Include the witness (default true); it gets the id after the last standby. */
  witness?: boolean;
}

const LOCATIONS = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] as const;

export class SnapshotBuilder {
  readonly now: number;
  private readonly snap: ClusterSnapshot;

  constructor(options: BuilderOptions = {}) {
    this.now = options.now ?? BUILDER_NOW;
    const now = this.now;
    const standbys = options.standbys ?? 2;
    this.snap = {
      cluster: {
        cluster_id: CLUSTER_ID,
        term: 3,
        primary_node_id: 1,
        paused: false,
        operation: null,
        lease: { holder_node_id: 1, term: 3, rvn: 'rvn-0001', renewed_at: now - 1000 },
        lease_observation: { rvn: 'rvn-0001', first_seen_at: now - 2000 },
        settings: { ...DEFAULT_CLUSTER_SETTINGS },
        version: 42,
        created_at: now - 86_400_000,
        updated_at: now - 60_000,
      },
      nodes: [],
      heartbeats: [],
    };
    this.addNode(1, 'pg1', 'primary', LOCATIONS[0], null);
    for (let i = 0; i < standbys; i++) {
      const id = i + 2;
      // Node 2 in another zone, node 3 in the primary's zone, then round robin.
      const location = i === 0 ? LOCATIONS[1] : i === 1 ? LOCATIONS[0] : LOCATIONS[i % 3] ?? LOCATIONS[0];
      this.addStandby(id, { location });
    }
    if (options.witness ?? true) this.addWitness(standbys + 2, LOCATIONS[2]);
  }

  // ---------------------------------------------------------------- topology

  addStandby(id: number, opts: { name?: string; location?: string; priority?: number; upstream?: number; lsn?: string } = {}): this {
    const upstream = opts.upstream ?? this.primaryId;
    this.addNode(id, opts.name ?? `pg${id}`, 'standby', opts.location ?? LOCATIONS[1], upstream, opts.priority ?? 100);
    // Node 2 is fully caught up, the others are a little behind (so the ranking is deterministic).
    const lsn = opts.lsn ?? (id === 2 ? PRIMARY_LSN : '0/5000000');
    this.server(id, { receive_lsn: lsn, replay_lsn: lsn });
    this.server(this.primaryId, {
      replication: [...this.serverOf(this.primaryId).replication, replicationRow(opts.name ?? `pg${id}`, lsn)],
    });
    return this;
  }

  addWitness(id: number, location: string = LOCATIONS[2]): this {
    this.addNode(id, 'witness', 'witness', location, null, 0);
    return this;
  }

  removeNode(id: number): this {
    this.snap.nodes = this.snap.nodes.filter((n) => n.node_id !== id);
    this.snap.heartbeats = this.snap.heartbeats.filter((h) => h.node_id !== id);
    return this;
  }

  get primaryId(): number {
    return this.snap.cluster.primary_node_id ?? 1;
  }

  /** Ids of registered nodes of a type, ascending. */
  idsOf(type: NodeType): number[] {
    return this.snap.nodes.filter((n) => n.type === type).map((n) => n.node_id).sort((a, b) => a - b);
  }

  // ---------------------------------------------------------------- raw patches

  settings(patch: Partial<ClusterSettings>): this {
    Object.assign(this.snap.cluster.settings, patch);
    return this;
  }

  cluster(patch: Partial<ClusterRecord>): this {
    Object.assign(this.snap.cluster, patch);
    return this;
  }

  node(id: number, patch: Partial<NodeRecord>): this {
    Object.assign(this.nodeOf(id), patch);
    return this;
  }

  heartbeat(id: number, patch: Partial<Heartbeat>): this {
    Object.assign(this.heartbeatOf(id), patch);
    return this;
  }

  server(id: number, patch: Partial<ServerState>): this {
    Object.assign(this.serverOf(id), patch);
    return this;
  }

  /** Records `observer`'s latest check of `target`. 'ok' and 'failed' are checks made 1 s ago. */
  sees(observer: number, target: number, result: 'ok' | 'failed' | Partial<Reachability>): this {
    const hb = this.heartbeatOf(observer);
    const existing = hb.reachability.find((r) => r.node_id === target);
    const base: Reachability = existing ?? { node_id: target, ok: true, checked_at: this.now - 1000, last_ok_at: this.now - 1000, failures: 0 };
    const next: Reachability =
      result === 'ok'
        ? { ...base, ok: true, checked_at: this.now - 1000, last_ok_at: this.now - 1000, failures: 0 }
        : result === 'failed'
          ? { ...base, ok: false, checked_at: this.now - 1000, failures: base.failures + 1 }
          : { ...base, ...result };
    hb.reachability = [...hb.reachability.filter((r) => r.node_id !== target), next];
    return this;
  }

  /** Removes the node's heartbeat altogether (an agent that never reported). */
  noHeartbeat(id: number): this {
    this.snap.heartbeats = this.snap.heartbeats.filter((h) => h.node_id !== id);
    return this;
  }

  // ---------------------------------------------------------------- failures

  /** The primary's own agent reports its postmaster gone since `downForMs` ago; observers fail to reach it. */
  crashPrimary(downForMs = 3000): this {
    const p = this.primaryId;
    const since = this.now - downForMs;
    this.heartbeat(p, { sent_at: this.now - 500 });
    this.server(p, { postmaster_running: false, accepting_connections: false, down_since: since, last_accepting_at: since - 1500 });
    this.observersLose(p, since - 1000);
    return this;
  }

  /** The primary's postmaster runs but has refused connections for `forMs` (agent clock). */
  primaryNotAccepting(forMs: number): this {
    const p = this.primaryId;
    const since = this.now - 500 - forMs;
    this.heartbeat(p, { sent_at: this.now - 500 });
    this.server(p, { accepting_connections: false, down_since: since, last_accepting_at: since - 500 });
    this.observersLose(p, since - 1000);
    return this;
  }

  /** The node's agent stops reporting: its last heartbeat is `ageMs` old. */
  silence(id: number, ageMs = 60_000): this {
    this.heartbeat(id, { sent_at: this.now - ageMs });
    return this;
  }

  /** The primary's host goes silent `ageMs` ago and every observer has failed to reach it since. */
  silencePrimary(ageMs = 60_000): this {
    this.silence(this.primaryId, ageMs);
    this.observersLose(this.primaryId, this.now - ageMs - 2000);
    return this;
  }

  /** Every node registered in `location` goes silent (a whole Availability Zone cut off). */
  darkenLocation(location: string, ageMs = 60_000): this {
    for (const n of this.snap.nodes.filter((x) => x.location === location)) {
      if (n.node_id === this.primaryId) this.silencePrimary(ageMs);
      else this.silence(n.node_id, ageMs);
    }
    return this;
  }

  /** Every observer that is not silent reports a failed check of `target`, last success at `lastOkAt`. */
  observersLose(target: number, lastOkAt: number): this {
    for (const n of this.snap.nodes) {
      if (n.node_id === target || !this.snap.heartbeats.some((h) => h.node_id === n.node_id)) continue;
      this.sees(n.node_id, target, { ok: false, checked_at: this.now - 1000, last_ok_at: lastOkAt, failures: 6 });
    }
    return this;
  }

  /** The heartbeat of `id` claims to be sent `aheadMs` in the future. */
  futureHeartbeat(id: number, aheadMs: number): this {
    return this.heartbeat(id, { sent_at: this.now + aheadMs });
  }

  // ---------------------------------------------------------------- lease

  /** The controller has seen the current RVN unchanged for `ms`. */
  leaseObservedFor(ms: number): this {
    const rvn = this.snap.cluster.lease?.rvn ?? '(no lease)';
    this.snap.cluster.lease_observation = { rvn, first_seen_at: this.now - ms };
    return this;
  }

  /** Observed unchanged 1 s longer than lease_secs + clock_skew_margin_ms. */
  expireLease(): this {
    const s = this.snap.cluster.settings;
    return this.leaseObservedFor(s.lease_secs * 1000 + s.clock_skew_margin_ms + 1000);
  }

  /** Observed unchanged for 2 s only. */
  freshLease(): this {
    return this.leaseObservedFor(2000);
  }

  /** The primary renewed: a new RVN the controller has not recorded yet. */
  renewLease(rvn = 'rvn-0002'): this {
    const lease = this.snap.cluster.lease;
    this.snap.cluster.lease = lease ? { ...lease, rvn, renewed_at: this.now - 500 } : { holder_node_id: this.primaryId, term: this.snap.cluster.term, rvn, renewed_at: this.now - 500 };
    return this;
  }

  /** No lease in the cluster record (the observation is left as it is). */
  noLease(): this {
    this.snap.cluster.lease = null;
    return this;
  }

  // ---------------------------------------------------------------- WAL, sync

  /** The primary's current LSN, or a standby's receive and replay LSN. */
  setLsn(id: number, lsn: string): this {
    if (id === this.primaryId) return this.server(id, { current_lsn: lsn });
    const name = this.nodeOf(id).node_name;
    this.server(id, { receive_lsn: lsn, replay_lsn: lsn });
    const p = this.serverOf(this.primaryId);
    p.replication = p.replication.map((r) => (r.application_name === name ? { ...r, sent_lsn: lsn, write_lsn: lsn, flush_lsn: lsn, replay_lsn: lsn } : r));
    return this;
  }

  /** The primary runs synchronous replication with `syncIds` reported as sync, the others async. */
  synchronous(syncIds: number[], state: 'sync' | 'quorum' = 'sync'): this {
    const names = syncIds.map((id) => this.nodeOf(id).node_name);
    const p = this.serverOf(this.primaryId);
    p.synchronous_standby_names = state === 'quorum' ? `ANY 1 (${names.join(', ')})` : `FIRST 1 (${names.join(', ')})`;
    p.replication = p.replication.map((r) => ({ ...r, sync_state: names.includes(r.application_name) ? state : 'async' }));
    return this;
  }

  // ---------------------------------------------------------------- output

  build(): ClusterSnapshot {
    return ClusterSnapshotSchema.parse(structuredClone(this.snap));
  }

  // ---------------------------------------------------------------- internals

  private addNode(id: number, name: string, type: NodeType, location: string, upstream: number | null, priority = 100): void {
    const now = this.now;
    this.snap.nodes.push({
      cluster_id: CLUSTER_ID,
      node_id: id,
      node_name: name,
      type,
      upstream_node_id: upstream,
      active: true,
      location,
      priority,
      conninfo: `host=${name} user=repmgr dbname=repmgr connect_timeout=2`,
      repluser: type === 'witness' ? null : 'repmgr',
      slot_name: type === 'standby' ? `repmgr_slot_${id}` : null,
      config_file: '/etc/pgvigil/repmgr.conf',
      instance_id: `i-${String(id).padStart(17, '0')}`,
      fenced: false,
      instance_stopped_at: null,
      registered_at: now - 86_400_000,
      updated_at: now - 86_400_000,
    });
    const server: ServerState | null =
      type === 'witness'
        ? null
        : {
            postmaster_running: true,
            accepting_connections: true,
            last_accepting_at: now - 1000,
            down_since: null,
            in_recovery: type === 'standby',
            system_identifier: SYSTEM_IDENTIFIER,
            timeline: 2,
            current_lsn: type === 'primary' ? PRIMARY_LSN : null,
            receive_lsn: null,
            replay_lsn: null,
            wal_receiver_status: type === 'standby' ? 'streaming' : null,
            wal_receiver_upstream_node_id: type === 'standby' ? upstream : null,
            replication: [],
            synchronous_standby_names: type === 'primary' ? '' : null,
            data_directory_writable: true,
            fenced: false,
          };
    const reachability: Reachability[] =
      type === 'primary' ? [] : [{ node_id: this.snap.cluster.primary_node_id ?? 1, ok: true, checked_at: now - 1000, last_ok_at: now - 1000, failures: 0 }];
    this.snap.heartbeats.push({
      cluster_id: CLUSTER_ID,
      node_id: id,
      seq: 100,
      sent_at: now - 1000,
      agent_version: '0.1.0',
      term: this.snap.cluster.term,
      server,
      reachability,
    });
  }

  private nodeOf(id: number): NodeRecord {
    const n = this.snap.nodes.find((x) => x.node_id === id);
    if (!n) throw new Error(`snapshot builder: no node ${id}`);
    return n;
  }

  private heartbeatOf(id: number): Heartbeat {
    const h = this.snap.heartbeats.find((x) => x.node_id === id);
    if (!h) throw new Error(`snapshot builder: node ${id} has no heartbeat`);
    return h;
  }

  private serverOf(id: number): ServerState {
    const h = this.heartbeatOf(id);
    if (!h.server) throw new Error(`snapshot builder: node ${id} reports no server`);
    return h.server;
  }
}

function replicationRow(name: string, lsn: string): ReplicationRow {
  return { application_name: name, client_addr: null, state: 'streaming', sync_state: 'async', sent_lsn: lsn, write_lsn: lsn, flush_lsn: lsn, replay_lsn: lsn };
}

/** A healthy cluster (see {@link SnapshotBuilder}); chain failure helpers, then `build()`. */
export function clusterSnapshot(options: BuilderOptions = {}): SnapshotBuilder {
  return new SnapshotBuilder(options);
}

/** The same snapshot under another cluster id (tests that seed many clusters into one table). */
export function withClusterId(snapshot: ClusterSnapshot, clusterId: string): ClusterSnapshot {
  return {
    cluster: { ...snapshot.cluster, cluster_id: clusterId },
    nodes: snapshot.nodes.map((n) => ({ ...n, cluster_id: clusterId })),
    heartbeats: snapshot.heartbeats.map((h) => ({ ...h, cluster_id: clusterId })),
  };
}
