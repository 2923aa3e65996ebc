import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTopicCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmfMetrics } from '../../adapters/emf-metrics.js';
import { CLUSTER_DIMENSION, METRICS } from '../../core/metrics.js';
import { AlarmEvaluator } from '../../sandbox/alarm-evaluator.js';
import { EmfToCloudWatch } from '../../sandbox/emf-extractor.js';
import { NotificationSubscriber, readNotifications, type SnsNotification } from '../../sandbox/notifications.js';
import { startMoto, type Moto } from '../support/moto.js';

/**
 * The sandbox's CloudWatch against moto: the controller's EMF lines become metric data, the
 * evaluator judges the stack's failover alarm on them, and its state changes reach the topic's
 * subscriber over SNS (moto delivers to HTTP subscriptions).
 */
const ALARM = 'pgvigil-ControlPlaneFailoverHappenedmain';
const dir = mkdtempSync(join(tmpdir(), 'pgv-alarms-'));
chmodSync(dir, 0o755);
let moto: Moto;
let cloudwatch: CloudWatchClient;
let sns: SNSClient;
let subscriber: NotificationSubscriber;
let evaluator: AlarmEvaluator;
let topicArn: string;
const seen: SnsNotification[] = [];

beforeAll(async () => {
  moto = await startMoto();
  cloudwatch = new CloudWatchClient(moto.clientConfig);
  sns = new SNSClient(moto.clientConfig);
  topicArn = (await sns.send(new CreateTopicCommand({ Name: 'pgvigil-topic' }))).TopicArn ?? '';
  // The template's FailoverHappened alarm (infra/construct.ts), as sandbox/emulator-alarms.ts creates it.
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: ALARM,
      AlarmDescription: 'pgvigil main: a failover promoted a new primary (see cluster event)',
      Namespace: 'pgvigil',
      MetricName: METRICS.failovers.name,
      Dimensions: [{ Name: CLUSTER_DIMENSION, Value: 'main' }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicArn],
      OKActions: [topicArn],
    }),
  );
  await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: 'INSUFFICIENT_DATA', StateReason: 'Unchecked: Initial alarm creation' }));
  subscriber = new NotificationSubscriber({ sns, topicArn, dir, onNotification: (n) => seen.push(n) });
  await subscriber.start();
  // 60 s periods last 5 s, as in the sandbox.
  evaluator = new AlarmEvaluator({ cloudwatch, sns, alarmNamePrefix: 'pgvigil-', timeScale: 12, intervalMs: 500 });
  evaluator.start();
}, 60_000);

afterAll(async () => {
  await evaluator?.stop();
  await subscriber?.stop();
  cloudwatch?.destroy();
  sns?.destroy();
  await moto?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; notifications: ${JSON.stringify(seen.map((n) => n.alarm))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the sandbox’s alarms', () => {
  it('settles a new alarm to OK with no failovers, and says so on the topic', async () => {
    const ok = await until('the first OK', () => seen.find((n) => n.alarm?.to === 'OK'));
    expect(ok.alarm).toMatchObject({ name: ALARM, from: 'INSUFFICIENT_DATA', to: 'OK' });
  });

  it('raises the failover alarm on the controller’s Failovers metric and clears it when the period has passed, both through SNS', async () => {
    const since = Date.now();
    const emf = new EmfToCloudWatch(cloudwatch);
    const metrics = new EmfMetrics((line) => emf.write(line));
    metrics.put(METRICS.failovers.name, 1, 'Count', { [CLUSTER_DIMENSION]: 'main' });
    metrics.flush();
    await emf.drain();

    const raised = await until('ALARM', () => seen.find((n) => n.receivedAt >= since && n.alarm?.to === 'ALARM'));
    expect(raised.subject).toBe(`ALARM: "${ALARM}" in us-east-1`);
    expect(raised.alarm?.reason).toMatch(/^Threshold Crossed: 1 out of the last 1 datapoints \[1\]/);
    const state = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [ALARM] }));
    expect(['ALARM', 'OK']).toContain(state.MetricAlarms?.[0]?.StateValue);

    const cleared = await until('OK after ALARM', () => seen.find((n) => n.receivedAt > raised.receivedAt && n.alarm?.to === 'OK'));
    expect(cleared.alarm?.from).toBe('ALARM');
    expect(readNotifications(dir, since).map((n) => n.alarm?.to)).toEqual(['ALARM', 'OK']);
  });

  it('leaves the cluster’s own event notifications out of the subscriber’s record', async () => {
    const since = Date.now();
    await sns.send(
      new PublishCommand({ TopicArn: topicArn, Subject: 'pgvigil main: failover_started', Message: '{}', MessageAttributes: { event: { DataType: 'String', StringValue: 'failover_started' } } }),
    );
    await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: 'plain', Message: 'a message without attributes' }));

    const plain = await until('the plain message', () => seen.find((n) => n.receivedAt >= since && n.subject === 'plain'));
    expect(plain.alarm).toBeNull();
    expect(readNotifications(dir, since).map((n) => n.subject)).toEqual(['plain']);
  });
});
