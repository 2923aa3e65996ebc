import { describe, expect, it } from 'vitest';
import { EmfMetrics } from '../../adapters/emf-metrics.js';
import { METRICS } from '../../core/metrics.js';
import { resolveIntrinsics } from '../../sandbox/emulator-alarms.js';
import { alarmNotification, alarmRule, evaluateAlarm, type AlarmRule, type MetricPoint } from '../../sandbox/alarm-evaluator.js';
import { emfMetricData } from '../../sandbox/emf-extractor.js';
import { alarmOf } from '../../sandbox/notifications.js';

const NOW = 1_800_000_000_000;
const PERIOD = 5000;
const point = (ageMs: number, value: number): MetricPoint => ({ timestamp: NOW - ageMs, sum: value, maximum: value, minimum: value, sampleCount: 1 });

const failovers: AlarmRule = {
  statistic: 'Sum',
  periodSeconds: 60,
  evaluationPeriods: 1,
  datapointsToAlarm: 1,
  threshold: 1,
  comparison: 'GreaterThanOrEqualToThreshold',
  treatMissingData: 'notBreaching',
};
const staleHeartbeat: AlarmRule = { ...failovers, statistic: 'Maximum', evaluationPeriods: 2, datapointsToAlarm: 2, threshold: 30, comparison: 'GreaterThanThreshold', treatMissingData: 'missing' };

describe('evaluateAlarm', () => {
  it('raises the failover alarm while a failover is inside the last period, and clears it once the period has passed', () => {
    expect(evaluateAlarm(failovers, [point(1000, 1)], NOW, PERIOD, 'OK')).toMatchObject({ state: 'ALARM', values: [1] });
    expect(evaluateAlarm(failovers, [point(PERIOD + 1000, 1)], NOW, PERIOD, 'ALARM')).toMatchObject({ state: 'OK', values: [null] });
  });

  it('says why in CloudWatch’s words', () => {
    expect(evaluateAlarm(failovers, [point(1000, 1)], NOW, PERIOD, 'OK').reason).toBe(
      'Threshold Crossed: 1 out of the last 1 datapoints [1] was greater than or equal to the threshold (1) (minimum 1 datapoint for OK -> ALARM transition).',
    );
  });

  it('adds up a statistic over the points of one period', () => {
    expect(evaluateAlarm({ ...failovers, threshold: 2 }, [point(1000, 1), point(2000, 1)], NOW, PERIOD, 'OK')).toMatchObject({ state: 'ALARM', values: [2] });
    expect(evaluateAlarm({ ...failovers, statistic: 'Average', threshold: 2 }, [point(1000, 1), point(2000, 2)], NOW, PERIOD, 'OK')).toMatchObject({ state: 'OK', values: [1.5] });
  });

  it('needs every one of datapointsToAlarm periods breaching', () => {
    expect(evaluateAlarm(staleHeartbeat, [point(1000, 40), point(PERIOD + 1000, 3)], NOW, PERIOD, 'OK')).toMatchObject({ state: 'OK', values: [3, 40] });
    expect(evaluateAlarm(staleHeartbeat, [point(1000, 40), point(PERIOD + 1000, 31)], NOW, PERIOD, 'OK').state).toBe('ALARM');
  });

  it('treats missing data as the alarm says: unknown, good, bad, or no change', () => {
    expect(evaluateAlarm(staleHeartbeat, [], NOW, PERIOD, 'OK').state).toBe('INSUFFICIENT_DATA');
    expect(evaluateAlarm(failovers, [], NOW, PERIOD, 'ALARM').state).toBe('OK');
    expect(evaluateAlarm({ ...failovers, treatMissingData: 'breaching' }, [], NOW, PERIOD, 'OK').state).toBe('ALARM');
    expect(evaluateAlarm({ ...failovers, treatMissingData: 'ignore' }, [], NOW, PERIOD, 'ALARM').state).toBe('ALARM');
  });
});

describe('alarmRule and alarmNotification', () => {
  const alarm = {
    AlarmName: 'pgvigil-ControlPlaneFailoverHappenedmainF32CC9AF',
    AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:pgvigil-ControlPlaneFailoverHappenedmainF32CC9AF',
    MetricName: 'Failovers',
    Namespace: 'pgvigil',
    Statistic: 'Sum' as const,
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold' as const,
    TreatMissingData: 'notBreaching',
    Dimensions: [{ Name: 'ClusterId', Value: 'main' }],
    AlarmActions: ['arn:aws:sns:us-east-1:123456789012:pgvigil-topic'],
  };

  it('reads the rule of a metric alarm, datapointsToAlarm defaulting to the evaluation periods', () => {
    expect(alarmRule(alarm)).toEqual(failovers);
    expect(alarmRule({ ...alarm, Statistic: undefined })).toBeUndefined();
  });

  it('publishes CloudWatch’s message, which the subscriber reads back as an alarm state change', () => {
    const decision = evaluateAlarm(failovers, [point(1000, 1)], NOW, PERIOD, 'OK');
    const note = alarmNotification(alarm, failovers, 'OK', decision, new Date(NOW), 'us-east-1');
    expect(note.subject).toBe('ALARM: "pgvigil-ControlPlaneFailoverHappenedmainF32CC9AF" in us-east-1');
    expect(JSON.parse(note.message)).toMatchObject({ AWSAccountId: '123456789012', Trigger: { MetricName: 'Failovers', Statistic: 'SUM', Dimensions: [{ name: 'ClusterId', value: 'main' }] } });
    expect(alarmOf(note.message)).toEqual({ name: alarm.AlarmName, from: 'OK', to: 'ALARM', reason: decision.reason });
    expect(alarmOf('{"event":"failover_started"}')).toBeNull();
    expect(alarmOf('not json')).toBeNull();
  });
});

describe('emfMetricData', () => {
  it('turns the controller’s EMF line into the PutMetricData CloudWatch Logs would extract from it', () => {
    const lines: string[] = [];
    const emf = new EmfMetrics((line) => lines.push(line), () => NOW);
    emf.put(METRICS.failovers.name, 1, 'Count', { ClusterId: 'main' });
    emf.put(METRICS.heartbeatAge.name, 0.5, 'Seconds', { ClusterId: 'main' });
    emf.put(METRICS.heartbeatAge.name, 0.7, 'Seconds', { ClusterId: 'main' });
    emf.flush();

    expect(lines.flatMap(emfMetricData)).toEqual([
      {
        Namespace: 'pgvigil',
        MetricData: [
          { MetricName: 'Failovers', Dimensions: [{ Name: 'ClusterId', Value: 'main' }], Timestamp: new Date(NOW), Value: 1, Unit: 'Count' },
          { MetricName: 'HeartbeatAgeSeconds', Dimensions: [{ Name: 'ClusterId', Value: 'main' }], Timestamp: new Date(NOW), Value: 0.5, Unit: 'Seconds' },
          { MetricName: 'HeartbeatAgeSeconds', Dimensions: [{ Name: 'ClusterId', Value: 'main' }], Timestamp: new Date(NOW), Value: 0.7, Unit: 'Seconds' },
        ],
      },
    ]);
  });

  it('ignores a line that is not EMF', () => {
    expect(emfMetricData('{"level":"INFO","message":"hello"}')).toEqual([]);
    expect(emfMetricData('plain text')).toEqual([]);
  });
});

describe('resolveIntrinsics', () => {
  const physical = { Topic: 'arn:aws:sns:us-east-1:123456789012:t', Queue: 'http://localhost/123456789012/pgvigil-dlq' };

  it('resolves the Refs and queue names of the stack’s alarms', () => {
    expect(resolveIntrinsics({ AlarmActions: [{ Ref: 'Topic' }], Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['Queue', 'QueueName'] } }] }, physical, 'alarm A')).toEqual({
      AlarmActions: ['arn:aws:sns:us-east-1:123456789012:t'],
      Dimensions: [{ Name: 'QueueName', Value: 'pgvigil-dlq' }],
    });
  });

  it('names the alarm and the intrinsic it cannot resolve', () => {
    expect(() => resolveIntrinsics({ X: { Ref: 'Missing' } }, physical, 'alarm A')).toThrow('alarm A: Ref Missing names no resource of the stack');
    expect(() => resolveIntrinsics({ X: { 'Fn::Sub': 'x' } }, physical, 'alarm A')).toThrow(/alarm A: Fn::Sub "x" cannot be resolved/);
  });
});
