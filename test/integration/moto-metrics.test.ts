/**
 * The emulator (sandbox/moto_server.py) answers GetMetricStatistics from an index of the queried
 * metric's data points instead of filtering every point ever put; the answers must be CloudWatch's:
 * only that namespace, name and dimensions, the time window, periods and statistics, points put after
 * an earlier answer, and the StatisticValues form the sandbox's EMF extractor may send.
 */
import { CloudWatchClient, GetMetricStatisticsCommand, PutMetricDataCommand, type Datapoint } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let cloudwatch: CloudWatchClient;
// Whole minutes, in the past. moto starts its periods at the first point in the window (CloudWatch
// at the window's start), so each window's first point sits on a whole minute.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
const at = (minute: number, second = 0): Date => new Date(T0 + minute * 60_000 + second * 1000);

beforeAll(async () => {
  moto = await startMoto();
  cloudwatch = new CloudWatchClient(moto.clientConfig);
}, 150_000);
afterAll(async () => {
  cloudwatch?.destroy();
  await moto?.stop();
});

async function put(namespace: string, name: string, value: number, time: Date, cluster = 'main'): Promise<void> {
  await cloudwatch.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: [{ MetricName: name, Value: value, Unit: 'Seconds', Timestamp: time, Dimensions: [{ Name: 'ClusterId', Value: cluster }] }] }));
}

async function stats(namespace: string, name: string, from: Date, to: Date, cluster = 'main'): Promise<Datapoint[]> {
  const out = await cloudwatch.send(
    new GetMetricStatisticsCommand({
      Namespace: namespace,
      MetricName: name,
      StartTime: from,
      EndTime: to,
      Period: 60,
      Statistics: ['Sum', 'Maximum', 'Minimum', 'SampleCount'],
      Dimensions: [{ Name: 'ClusterId', Value: cluster }],
    }),
  );
  return [...(out.Datapoints ?? [])].sort((a, b) => (a.Timestamp?.getTime() ?? 0) - (b.Timestamp?.getTime() ?? 0));
}

const summary = (points: Datapoint[]) => points.map((p) => ({ at: p.Timestamp?.getTime(), sum: p.Sum, max: p.Maximum, min: p.Minimum, n: p.SampleCount }));

describe('GetMetricStatistics on the emulator', () => {
  it("answers from the queried metric's points only, per period, and sees points put after an earlier answer", async () => {
    // The same name in another namespace, another name in the same namespace, another cluster:
    // an answer that leaks any of them shows in the sums.
    for (let m = 0; m < 3; m++) {
      await put('pgvigil', 'DecisionLatency', 10 + m, at(m));
      await put('pgvigil', 'DecisionLatency', 20 + m, at(m, 35));
      await put('pgvigil', 'HeartbeatAge', 1000, at(m, 10));
      await put('other', 'DecisionLatency', 5000, at(m, 10));
      await put('pgvigil', 'DecisionLatency', 7000, at(m), 'orders');
    }
    expect(summary(await stats('pgvigil', 'DecisionLatency', at(0), at(3)))).toEqual([
      { at: at(0).getTime(), sum: 30, max: 20, min: 10, n: 2 },
      { at: at(1).getTime(), sum: 32, max: 21, min: 11, n: 2 },
      { at: at(2).getTime(), sum: 34, max: 22, min: 12, n: 2 },
    ]);
    // The window: only minute 1.
    expect(summary(await stats('pgvigil', 'DecisionLatency', at(1), at(2)))).toEqual([{ at: at(1).getTime(), sum: 32, max: 21, min: 11, n: 2 }]);
    expect(summary(await stats('pgvigil', 'DecisionLatency', at(0), at(3), 'orders'))).toEqual([
      { at: at(0).getTime(), sum: 7000, max: 7000, min: 7000, n: 1 },
      { at: at(1).getTime(), sum: 7000, max: 7000, min: 7000, n: 1 },
      { at: at(2).getTime(), sum: 7000, max: 7000, min: 7000, n: 1 },
    ]);
    // Put after the answers above: the next answer has it.
    await put('pgvigil', 'DecisionLatency', 100, at(1, 50));
    expect(summary(await stats('pgvigil', 'DecisionLatency', at(1), at(2)))).toEqual([{ at: at(1).getTime(), sum: 132, max: 100, min: 11, n: 3 }]);
    expect(await stats('pgvigil', 'NoSuchMetric', at(0), at(3))).toEqual([]);
  });

  it('counts points put as statistic sets', async () => {
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: 'pgvigil',
        MetricData: [{ MetricName: 'FailoverDuration', StatisticValues: { Sum: 12, Minimum: 2, Maximum: 6, SampleCount: 3 }, Unit: 'Seconds', Timestamp: at(4), Dimensions: [{ Name: 'ClusterId', Value: 'main' }] }],
      }),
    );
    await put('pgvigil', 'FailoverDuration', 8, at(4, 2));
    expect(summary(await stats('pgvigil', 'FailoverDuration', at(4), at(5)))).toEqual([{ at: at(4).getTime(), sum: 20, max: 8, min: 2, n: 4 }]);
  });
});
