/**
 * The CloudWatch metrics pgvigil emits (docs/controller.md), shared by the controller that emits them and the
 * CDK construct that alarms on and graphs them, so the two can never drift apart.
 *
 * Every metric lives in namespace {@link METRICS_NAMESPACE} and carries the dimension
 * {@link CLUSTER_DIMENSION} (the cluster id) — the dimension set the alarms and the dashboard use.
 * The controller may *additionally* emit per-node series with {@link NODE_DIMENSION}; those are
 * for drill-down and are not alarmed on.
 */
export const METRICS_NAMESPACE = 'pgvigil';
export const CLUSTER_DIMENSION = 'ClusterId';
export const NODE_DIMENSION = 'NodeId';

export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes';

export interface MetricDefinition {
  readonly name: string;
  readonly unit: MetricUnit;
  /** What one data point means, in plain words (shown in the dashboard's widget titles and docs). */
  readonly description: string;
}

export const METRICS = {
  /** Age of the current primary's latest heartbeat, seen on the controller's clock at each evaluation. */
  heartbeatAge: {
    name: 'HeartbeatAgeSeconds',
    unit: 'Seconds',
    description: "age of the primary's latest heartbeat when the controller evaluated the cluster",
  },
  /** Largest replication lag (bytes of WAL not yet received) among the cluster's standbys. */
  replicationLag: {
    name: 'ReplicationLagBytes',
    unit: 'Bytes',
    description: 'largest replication lag among the standbys, in bytes of WAL',
  },
  /** Largest replay delay in seconds among the cluster's standbys, as their agents measured it. */
  replicationLagSeconds: {
    name: 'ReplicationLagSeconds',
    unit: 'Seconds',
    description: 'largest replication lag among the standbys, in seconds',
  },
  /**
   * How long the controller has seen the same lease RVN (docs/architecture.md): near zero while the primary
   * renews, growing when it cannot; the lease counts as expired past lease_secs + skew margin.
   */
  leaseAge: {
    name: 'LeaseAgeSeconds',
    unit: 'Seconds',
    description: "time the controller has observed the same lease version (the primary's renewals stopped when it grows)",
  },
  /** 1 for every failover that promoted a new primary. */
  failovers: { name: 'Failovers', unit: 'Count', description: 'failovers completed (a new primary promoted)' },
  /** 1 for every split brain the engine detected (a second fresh node not in recovery). */
  splitBrains: { name: 'SplitBrains', unit: 'Count', description: 'split brains detected' },
  /** 1 for every saga step that failed (it is retried or rolled back; see the event log). */
  sagaStepFailures: { name: 'SagaStepFailures', unit: 'Count', description: 'saga steps that failed' },
  /** Time from reading the cluster's state to the engine's decision, per evaluation. */
  decisionLatency: { name: 'DecisionLatencyMs', unit: 'Milliseconds', description: 'read + decide time per evaluation' },
  /** Time from the failure's beginning (docs/decision-engine.md) to the new primary accepting writes behind the VIP. */
  failoverDuration: {
    name: 'FailoverDurationMs',
    unit: 'Milliseconds',
    description: 'from the primary failure to the new primary behind the Elastic IP',
  },
  /**
   * Per failover whose data-loss record is known: WAL bytes the old primary last reported beyond
   * what the promoted standby had received (core/data-loss.ts; 0 with a synchronous standby).
   */
  failoverDataLoss: {
    name: 'FailoverDataLossBytes',
    unit: 'Bytes',
    description: "WAL the old primary last reported beyond what the new primary had received, per failover",
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;
export type MetricName = (typeof METRICS)[MetricKey]['name'];

/** Every metric name, for tests and for the emitter's validation of what it sends. */
export const METRIC_NAMES: readonly MetricName[] = Object.values(METRICS).map((m) => m.name);
