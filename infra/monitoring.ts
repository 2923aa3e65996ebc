/**
 * Monitoring (docs/controller.md, docs/operations.md): the alarms, which notify the topic when they
 * fire and when they clear, and the dashboard.
 */
import { Duration, aws_cloudwatch as cloudwatch, aws_cloudwatch_actions as cloudwatchActions, aws_lambda as lambda, aws_sns as sns, aws_sqs as sqs } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CLUSTER_DIMENSION, METRICS, METRICS_NAMESPACE, type MetricDefinition } from '../core/metrics.js';
import { logicalSuffix, type PgvigilAlarmThresholds } from './props.js';
import type { ClusterResources } from './state.js';

/** What is watched, and where the alarms notify. */
export interface MonitoringTargets {
  readonly topic: sns.Topic;
  readonly evaluator: lambda.Function;
  readonly deadLetterQueue: sqs.Queue;
  /** Each gets its alarms (added to its `alarms`) and a row of the dashboard. */
  readonly clusters: Iterable<ClusterResources>;
  readonly thresholds?: PgvigilAlarmThresholds;
}

/** The evaluator's alarms, then every cluster's, and the dashboard showing them. */
export function monitoring(
  scope: Construct,
  { topic, evaluator, deadLetterQueue, clusters, thresholds: thresholdProps }: MonitoringTargets,
): { alarms: cloudwatch.Alarm[]; dashboard: cloudwatch.Dashboard } {
  const alarms: cloudwatch.Alarm[] = [];
  const thresholds = {
    staleHeartbeatSeconds: thresholdProps?.staleHeartbeatSeconds ?? 30,
    replicationLagCriticalBytes: thresholdProps?.replicationLagCriticalBytes ?? 1024 ** 3,
  };
  const notify = new cloudwatchActions.SnsAction(topic);
  const alarm = (idPart: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
    const a = new cloudwatch.Alarm(scope, idPart, alarmProps);
    a.addAlarmAction(notify);
    a.addOkAction(notify); // "resolved" too, so an operator learns the alarm cleared
    alarms.push(a);
    return a;
  };
  alarm('EvaluatorErrorsAlarm', {
    alarmDescription: 'pgvigil: the evaluator function failed (see its log group); the sweep retries every minute',
    metric: evaluator.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm('EvaluatorDeadLettersAlarm', {
    alarmDescription: 'pgvigil: stream records were given up after retries (the sweep still evaluates every cluster)',
    metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });

  const widgets: cloudwatch.IWidget[][] = [];
  for (const c of clusters) {
    const suffix = logicalSuffix(c.clusterId);
    // Alarms get the plain metric (a label would turn it into a metric-math alarm); graphs get a label.
    const alarmMetric = (def: MetricDefinition, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: def.name,
        dimensionsMap: { [CLUSTER_DIMENSION]: c.clusterId },
        statistic,
        period: Duration.minutes(1),
      });
    const m = (def: MetricDefinition, statistic: string) => alarmMetric(def, statistic).with({ label: `${c.clusterId} ${def.name}` });
    c.alarms.push(
      alarm(`StalePrimaryHeartbeat${suffix}`, {
        alarmDescription: `pgvigil ${c.clusterId}: the primary's heartbeat is older than ${thresholds.staleHeartbeatSeconds} s`,
        metric: alarmMetric(METRICS.heartbeatAge, 'Maximum'),
        threshold: thresholds.staleHeartbeatSeconds,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      alarm(`ReplicationLagCritical${suffix}`, {
        alarmDescription: `pgvigil ${c.clusterId}: a standby lags more than ${thresholds.replicationLagCriticalBytes} bytes`,
        metric: alarmMetric(METRICS.replicationLag, 'Maximum'),
        threshold: thresholds.replicationLagCriticalBytes,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      alarm(`FailoverHappened${suffix}`, {
        alarmDescription: `pgvigil ${c.clusterId}: a failover promoted a new primary (see cluster event)`,
        metric: alarmMetric(METRICS.failovers, 'Sum'),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      alarm(`SplitBrain${suffix}`, {
        alarmDescription: `pgvigil ${c.clusterId}: two nodes ran as primary; the intruder was fenced`,
        metric: alarmMetric(METRICS.splitBrains, 'Sum'),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    if (c.failoverDataLossBudgetBytes !== null) {
      c.alarms.push(
        alarm(`FailoverDataLoss${suffix}`, {
          alarmDescription: `pgvigil ${c.clusterId}: a failover's new primary lacked more than ${c.failoverDataLossBudgetBytes} bytes of the old primary's WAL (see the repmgrd_failover_promote event)`,
          metric: alarmMetric(METRICS.failoverDataLoss, 'Maximum'),
          threshold: c.failoverDataLossBudgetBytes,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    widgets.push([
      new cloudwatch.TextWidget({ markdown: `## pgvigil cluster \`${c.clusterId}\``, width: 24, height: 1 }),
    ]);
    widgets.push([
      new cloudwatch.GraphWidget({
        title: `${c.clusterId}: primary heartbeat age / lease age (s)`,
        left: [m(METRICS.heartbeatAge, 'Maximum'), m(METRICS.leaseAge, 'Maximum')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${c.clusterId}: replication lag (bytes / s)`,
        left: [m(METRICS.replicationLag, 'Maximum')],
        right: [m(METRICS.replicationLagSeconds, 'Maximum')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${c.clusterId}: failovers, split brains, saga step failures / failover data loss (bytes)`,
        left: [m(METRICS.failovers, 'Sum'), m(METRICS.splitBrains, 'Sum'), m(METRICS.sagaStepFailures, 'Sum')],
        right: [m(METRICS.failoverDataLoss, 'Maximum')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: `${c.clusterId}: decision latency / failover duration (ms)`,
        left: [m(METRICS.decisionLatency, 'p99')],
        right: [m(METRICS.failoverDuration, 'Maximum')],
        width: 6,
      }),
    ]);
  }
  widgets.push([
    new cloudwatch.GraphWidget({
      title: 'evaluator invocations / errors',
      left: [evaluator.metricInvocations(), evaluator.metricErrors()],
      width: 8,
    }),
    new cloudwatch.GraphWidget({ title: 'evaluator duration (ms)', left: [evaluator.metricDuration({ statistic: 'p99' })], width: 8 }),
    new cloudwatch.GraphWidget({
      title: 'stream iterator age (ms)',
      left: [
        new cloudwatch.Metric({
          namespace: 'AWS/Lambda',
          metricName: 'IteratorAge',
          dimensionsMap: { FunctionName: evaluator.functionName },
          statistic: 'Maximum',
        }),
      ],
      width: 8,
    }),
  ]);
  widgets.push([new cloudwatch.AlarmStatusWidget({ title: 'pgvigil alarms', alarms, width: 24 })]);
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { widgets });
  return { alarms, dashboard };
}
