/**
 * The state table in memory, with DynamoDB's conditional-write semantics as the adapter uses them
 * (adapters/dynamo-state-store.ts): the cluster record's version is the optimistic lock, the lease
 * renewal is conditional on term and primary, the saga owner's renewal on operation id, owner and a
 * deadline not yet passed. For unit tests that drive the real evaluator and sagas over many
 * simulated minutes (test/unit/controller-liveness.property.test.ts), where moto would be far too
 * slow. Every read and write copies, so nothing is shared with the caller.
 */
import type { ClusterRecord, EventRecord, Heartbeat, LeaseObservation, MonitoringSample, NodeRecord } from '../../core/model.js';
import { mayRenewLease } from '../../core/engine/lease.js';
import type { ClusterStateStore, ListEventsOptions, LoadedCluster, WriteResult } from '../../core/ports.js';

const OK: WriteResult = { ok: true };
const LOST: WriteResult = { ok: false, reason: 'condition_failed' };

export class MemoryStateStore implements ClusterStateStore {
  readonly clusters = new Map<string, ClusterRecord>();
  readonly nodes = new Map<string, NodeRecord>();
  readonly heartbeats = new Map<string, Heartbeat>();
  readonly events: EventRecord[] = [];

  async load(clusterId: string): Promise<LoadedCluster | undefined> {
    const cluster = this.clusters.get(clusterId);
    if (!cluster) return undefined;
    const nodes = [...this.nodes.values()].filter((n) => n.cluster_id === clusterId).sort((a, b) => a.node_id - b.node_id);
    const heartbeats = [...this.heartbeats.values()].filter((h) => h.cluster_id === clusterId).sort((a, b) => a.node_id - b.node_id);
    return structuredClone({ snapshot: { cluster, nodes, heartbeats }, rejected: [] });
  }

  async listClusters(): Promise<string[]> {
    return [...this.clusters.keys()].sort();
  }

  async createCluster(record: ClusterRecord): Promise<WriteResult> {
    if (this.clusters.has(record.cluster_id)) return LOST;
    this.clusters.set(record.cluster_id, structuredClone(record));
    return OK;
  }

  async updateCluster(
    clusterId: string,
    expectedVersion: number,
    change: Partial<Pick<ClusterRecord, 'term' | 'primary_node_id' | 'paused' | 'paused_by' | 'operation' | 'lease_observation' | 'settings' | 'reported_conditions'>>,
    now: number,
    guard?: { leaseRvn: string | null },
  ): Promise<WriteResult> {
    const c = this.clusters.get(clusterId);
    if (!c || c.version !== expectedVersion) return LOST;
    if (guard && (c.lease?.rvn ?? null) !== guard.leaseRvn) return LOST;
    this.clusters.set(clusterId, structuredClone({ ...c, ...change, version: c.version + 1, updated_at: now }));
    return OK;
  }

  async renewOperation(clusterId: string, operationId: string, owner: string, deadline: number, now: number): Promise<WriteResult> {
    const c = this.clusters.get(clusterId);
    const op = c?.operation;
    if (!c || !op || op.id !== operationId || op.owner !== owner || op.deadline <= now) return LOST;
    this.clusters.set(clusterId, { ...c, operation: { ...op, deadline } });
    return OK;
  }

  async putLeaseObservation(clusterId: string, term: number, observation: LeaseObservation): Promise<WriteResult> {
    const c = this.clusters.get(clusterId);
    if (!c || c.term !== term || (c.lease !== null && c.lease.rvn !== observation.rvn)) return LOST;
    this.clusters.set(clusterId, { ...c, lease_observation: { ...observation } });
    return OK;
  }

  async putNode(node: NodeRecord): Promise<void> {
    this.nodes.set(`${node.cluster_id}/${node.node_id}`, structuredClone(node));
  }

  async deleteNode(clusterId: string, nodeId: number): Promise<void> {
    this.nodes.delete(`${clusterId}/${nodeId}`);
    this.heartbeats.delete(`${clusterId}/${nodeId}`);
  }

  async putHeartbeat(heartbeat: Heartbeat): Promise<void> {
    this.heartbeats.set(`${heartbeat.cluster_id}/${heartbeat.node_id}`, structuredClone(heartbeat));
  }

  async renewLease(clusterId: string, nodeId: number, term: number, rvn: string, now: number): Promise<WriteResult> {
    const c = this.clusters.get(clusterId);
    if (!c || !mayRenewLease(c, nodeId, term)) return LOST;
    this.clusters.set(clusterId, { ...c, lease: { holder_node_id: nodeId, term, rvn, renewed_at: now } });
    return OK;
  }

  async appendEvent(event: EventRecord): Promise<void> {
    this.events.push(structuredClone(event));
  }

  async listEvents(clusterId: string, options: ListEventsOptions = {}): Promise<EventRecord[]> {
    let list = this.events.filter(
      (e) =>
        e.cluster_id === clusterId &&
        (options.event === undefined || e.event === options.event) &&
        (options.nodeId === undefined || e.node_id === options.nodeId) &&
        (options.sinceMs === undefined || e.timestamp >= options.sinceMs),
    );
    if (options.newestFirst) list = [...list].reverse();
    return structuredClone(options.limit === undefined ? list : list.slice(0, options.limit));
  }

  async putMonitoringSample(_sample: MonitoringSample, _ttlSecs: number): Promise<void> {}

  async deleteMonitoringBefore(): Promise<number> {
    return 0;
  }
}
