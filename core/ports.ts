/**
 * Ports: the small interfaces the controller and the agent act through. Adapters implement them
 * against AWS (functions/adapters, agent/) and against the sandbox (sandbox/). Each adapter takes
 * its SDK client in its constructor so tests hand it one pointed at the emulator.
 */
import type { RecordedDecision } from './flight-recorder.js';
import type { HostAction } from './host-actions.js';
import type {
  ClusterRecord,
  ClusterSnapshot,
  EventRecord,
  Heartbeat,
  LeaseObservation,
  MonitoringSample,
  NodeRecord,
  Operation,
} from './model.js';

/** A heartbeat item that failed validation when it was read. */
export interface RejectedHeartbeat {
  node_id: number | null;
  errors: string[];
}

export interface LoadedCluster {
  snapshot: ClusterSnapshot;
  rejected: RejectedHeartbeat[];
}

/** The outcome of a conditional write: losing a race is an ordinary result, not an exception. */
export type WriteResult = { ok: true } | { ok: false; reason: 'condition_failed' };

/** Per-request options for the calls that must end within a deadline (the agent's lease path). */
export interface RequestOptions {
  /** Aborting it abandons the request (its connection is closed). */
  abortSignal?: AbortSignal;
}

export interface ClusterStateStore {
  /** One strongly consistent read of a cluster; undefined when no cluster record exists. */
  load(clusterId: string, options?: RequestOptions): Promise<LoadedCluster | undefined>;
  /** Every cluster id in the deployment (for the sweep). */
  listClusters(): Promise<string[]>;
  /** Create the cluster record if absent (first `primary register`). */
  createCluster(record: ClusterRecord): Promise<WriteResult>;
  /**
   * Replace the controller-owned fields of the cluster record (term, primary, paused, operation,
   * lease observation, settings) if its `version` is still `expectedVersion`. The lease itself
   * is the agent's and is never overwritten here. With `guard.leaseRvn`, the write also requires
   * the lease to still carry that RVN (null: no lease at all), so a failover claimed on a lease seen
   * as expired loses to a renewal that landed after the read.
   */
  updateCluster(
    clusterId: string,
    expectedVersion: number,
    change: Partial<
      Pick<ClusterRecord, 'term' | 'primary_node_id' | 'paused' | 'paused_by' | 'operation' | 'lease_observation' | 'settings' | 'reported_conditions' | 'scheduled_switchover'>
    >,
    now: number,
    guard?: { leaseRvn: string | null },
  ): Promise<WriteResult>;
  /**
   * The saga owner's own lease: move `operation.deadline` forward while the operation is still
   * `operationId`, owned by `owner`, and its deadline has not passed at `now`. Does not raise the
   * cluster record's version (a running saga's optimistic lock is not disturbed); a deadline that
   * has passed can never be renewed, since someone may be taking the saga over.
   */
  renewOperation(clusterId: string, operationId: string, owner: string, deadline: number, now: number): Promise<WriteResult>;
  /** Persist a new lease observation only if the cluster is still at `term`. */
  putLeaseObservation(clusterId: string, term: number, observation: LeaseObservation): Promise<WriteResult>;
  putNode(node: NodeRecord): Promise<void>;
  deleteNode(clusterId: string, nodeId: number): Promise<void>;
  putHeartbeat(heartbeat: Heartbeat, attention: boolean): Promise<void>;
  /**
   * Renew the primary's lease: writes a new RVN only while `nodeId` may hold it at `term` (the
   * term's primary, or the candidate of the failover or switchover that claimed it: mayRenewLease
   * in core/engine/lease.ts) and no other term has been claimed.
   */
  renewLease(clusterId: string, nodeId: number, term: number, rvn: string, now: number, options?: RequestOptions): Promise<WriteResult>;
  appendEvent(event: EventRecord): Promise<void>;
  /** Events, oldest first unless `newestFirst`; `limit` counts after the filters. */
  listEvents(clusterId: string, options?: ListEventsOptions): Promise<EventRecord[]>;
  /** Write a monitoring sample that DynamoDB expires after `ttlSecs`. */
  putMonitoringSample(sample: MonitoringSample, ttlSecs: number): Promise<void>;
  /** `cluster cleanup --keep-history`: delete monitoring samples older than `beforeMs`; returns how many. */
  deleteMonitoringBefore(clusterId: string, beforeMs: number): Promise<number>;
}

export interface ListEventsOptions {
  limit?: number;
  newestFirst?: boolean;
  event?: string;
  nodeId?: number;
  /** Only events at or after this time. */
  sinceMs?: number;
}

/** Result of a command run on a host (through SSM Run Command, or the sandbox's runner). */
export interface HostCommandResult {
  status: 'Success' | 'Failed' | 'TimedOut' | 'Cancelled' | 'Undeliverable';
  /** The agent command's exit code (repmgr's codes), when it ran. */
  exitCode: number | null;
  output: string;
}

export type { HostAction, HostActionName } from './host-actions.js';

/** Runs agent actions on hosts. */
export interface HostCommands {
  /** Starts the action and returns an id to poll; throws a retryable error on throttling. */
  send(instanceId: string, action: HostAction): Promise<string>;
  /** Waits up to `timeoutMs` for a terminal status. */
  wait(commandId: string, instanceId: string, timeoutMs: number): Promise<HostCommandResult>;
}

/**
 * Something that leads clients to one instance and can be pointed at another: an Elastic IP
 * (target: its allocation id), a Route 53 record (target: core/routes.ts `DnsRecord`).
 */
export interface RouteMover<Target, Moved = void> {
  /** Which instance the route leads to now (null when none, or an address no instance has). */
  current(target: Target): Promise<string | null>;
  /** Points the route at the instance; `Moved` says how it went where there is more to say. */
  moveTo(target: Target, instanceId: string): Promise<Moved>;
}

/**
 * The virtual IP: an Elastic IP re-association in AWS, a local endpoint in the sandbox. Unlike a
 * DNS record it can also be taken away from everyone at once.
 */
export interface VipMover extends RouteMover<string> {
  detach(allocationId: string): Promise<void>;
}

/** The cloud's STONITH: stop the instance (EC2 StopInstances, or kill a sandbox host). */
export interface InstanceFencer {
  stop(instanceId: string): Promise<void>;
  /** Starts an instance a fence stopped, so that its node can rejoin (auto_rejoin). */
  start(instanceId: string): Promise<void>;
}

/** Publishes events (SNS, with message attributes). */
export interface Notifier {
  publish(event: EventRecord): Promise<void>;
}

/** CloudWatch metrics (Embedded Metric Format in Lambda). */
export interface Metrics {
  put(name: string, value: number, unit: 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes', dimensions: Record<string, string>): void;
  flush(): void;
}

/** Time is an input (STYLE.md): adapters get a clock, tests pass a fake. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export type { Operation };

/** Where the flight recorder keeps decisions (core/flight-recorder.ts). */
export interface FlightRecorder {
  /** Keeps one decision (expiring after `ttlSecs`); `too_large` when its snapshot cannot be stored. */
  record(entry: RecordedDecision, ttlSecs: number): Promise<'recorded' | 'too_large'>;
  /** The newest decision kept at or before `atMs`, or undefined when none is kept. */
  at(clusterId: string, atMs: number): Promise<RecordedDecision | undefined>;
}
