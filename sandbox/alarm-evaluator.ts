/**
 * CloudWatch alarms made live in the sandbox (docs/sandbox.md, "Alarms and notifications"). moto
 * stores alarms and metric data but never evaluates an alarm, so no alarm of the stack would ever
 * change state. {@link AlarmEvaluator} does what CloudWatch does, against the emulator: every tick it
 * reads the alarms (DescribeAlarms) and their metric's data points (GetMetricStatistics), decides
 * each alarm's state with {@link evaluateAlarm} (threshold, comparison, evaluation periods,
 * datapoints to alarm, treatment of missing data), and on a change sets the state in the emulator
 * (SetAlarmState) and publishes CloudWatch's notification to the alarm's actions for the new state
 * (AlarmActions, OKActions, InsufficientDataActions: SNS topics).
 *
 * Windows slide with the clock: the last `EvaluationPeriods` periods ending now. `timeScale`
 * shortens every period (the sandbox runs alarms 12× faster, like its other timings, so a drill sees
 * its alarm raised and cleared); thresholds and counts are the alarm's own.
 */
import {
  DescribeAlarmsCommand,
  GetMetricStatisticsCommand,
  SetAlarmStateCommand,
  type CloudWatchClient,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** One aggregated data point (GetMetricStatistics with every simple statistic). */
export interface MetricPoint {
  timestamp: number;
  sum: number;
  maximum: number;
  minimum: number;
  sampleCount: number;
}

/** What an alarm is judged by (the fields of DescribeAlarms' MetricAlarm that matter here). */
export interface AlarmRule {
  statistic: 'Sum' | 'Maximum' | 'Minimum' | 'SampleCount' | 'Average';
  /** Seconds, as in the alarm (before any time scale). */
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  threshold: number;
  comparison: 'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold';
  treatMissingData: 'missing' | 'notBreaching' | 'breaching' | 'ignore';
}

export interface AlarmDecision {
  state: AlarmState;
  reason: string;
  /** The statistic of each evaluated period, oldest first; null = no data. */
  values: Array<number | null>;
}

const COMPARE: Record<AlarmRule['comparison'], { test: (v: number, t: number) => boolean; words: string }> = {
  GreaterThanOrEqualToThreshold: { test: (v, t) => v >= t, words: 'greater than or equal to' },
  GreaterThanThreshold: { test: (v, t) => v > t, words: 'greater than' },
  LessThanThreshold: { test: (v, t) => v < t, words: 'less than' },
  LessThanOrEqualToThreshold: { test: (v, t) => v <= t, words: 'less than or equal to' },
};

function statistic(points: MetricPoint[], stat: AlarmRule['statistic']): number | null {
  if (points.length === 0) return null;
  const sum = points.reduce((a, p) => a + p.sum, 0);
  const count = points.reduce((a, p) => a + p.sampleCount, 0);
  switch (stat) {
    case 'Sum':
      return sum;
    case 'SampleCount':
      return count;
    case 'Average':
      return count > 0 ? sum / count : null;
    case 'Maximum':
      return Math.max(...points.map((p) => p.maximum));
    case 'Minimum':
      return Math.min(...points.map((p) => p.minimum));
  }
}

/**
 * CloudWatch's decision for one alarm: the last `evaluationPeriods` periods of `periodMs` ending at
 * `now`; ALARM when at least `datapointsToAlarm` of them breach (missing periods count as the
 * alarm's treatMissingData says), INSUFFICIENT_DATA when every period is missing and missing data
 * is "missing", the current state kept when it is "ignore".
 */
export function evaluateAlarm(rule: AlarmRule, points: MetricPoint[], now: number, periodMs: number, current: AlarmState): AlarmDecision {
  const values: Array<number | null> = [];
  for (let i = rule.evaluationPeriods - 1; i >= 0; i--) {
    const end = now - i * periodMs;
    values.push(statistic(points.filter((p) => p.timestamp >= end - periodMs && p.timestamp < end), rule.statistic));
  }
  const compare = COMPARE[rule.comparison];
  const present = values.filter((v): v is number => v !== null);
  const missing = values.length - present.length;
  const breaching = present.filter((v) => compare.test(v, rule.threshold)).length + (rule.treatMissingData === 'breaching' ? missing : 0);
  const shown = `[${present.map((v) => String(v)).join(', ')}]`;
  if (present.length === 0 && (rule.treatMissingData === 'missing' || rule.treatMissingData === 'ignore')) {
    if (rule.treatMissingData === 'ignore') return { state: current, reason: 'no datapoints: state kept (missing data ignored)', values };
    return { state: 'INSUFFICIENT_DATA', reason: `Insufficient Data: ${rule.evaluationPeriods} datapoints were unknown.`, values };
  }
  const considered = rule.treatMissingData === 'notBreaching' || rule.treatMissingData === 'breaching' ? values.length : present.length;
  const needed = Math.min(rule.datapointsToAlarm, rule.evaluationPeriods);
  if (breaching >= needed) {
    return {
      state: 'ALARM',
      reason: `Threshold Crossed: ${breaching} out of the last ${considered} datapoints ${shown} ${breaching === 1 ? 'was' : 'were'} ${compare.words} the threshold (${rule.threshold}) (minimum ${needed} datapoint${needed === 1 ? '' : 's'} for OK -> ALARM transition).`,
      values,
    };
  }
  return {
    state: 'OK',
    reason: `Threshold Crossed: ${considered - breaching} out of the last ${considered} datapoints ${shown} ${considered - breaching === 1 ? 'was' : 'were'} not ${compare.words} the threshold (${rule.threshold}) (minimum ${considered - needed + 1} datapoint${considered - needed + 1 === 1 ? '' : 's'} for ALARM -> OK transition).`,
    values,
  };
}

/** The rule of a MetricAlarm as DescribeAlarms returns it; undefined when it is not a plain metric alarm. */
export function alarmRule(alarm: MetricAlarm): AlarmRule | undefined {
  const statistic = alarm.Statistic;
  if (!statistic || !alarm.MetricName || !alarm.Period || !alarm.EvaluationPeriods || alarm.Threshold === undefined || !alarm.ComparisonOperator) return undefined;
  if (!(alarm.ComparisonOperator in COMPARE)) return undefined;
  const treat = (alarm.TreatMissingData ?? 'missing') as AlarmRule['treatMissingData'];
  return {
    statistic: statistic as AlarmRule['statistic'],
    periodSeconds: alarm.Period,
    evaluationPeriods: alarm.EvaluationPeriods,
    datapointsToAlarm: alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods,
    threshold: alarm.Threshold,
    comparison: alarm.ComparisonOperator as AlarmRule['comparison'],
    treatMissingData: ['missing', 'notBreaching', 'breaching', 'ignore'].includes(treat) ? treat : 'missing',
  };
}

/** The message CloudWatch publishes to an alarm's SNS topic on a state change. */
export function alarmNotification(alarm: MetricAlarm, rule: AlarmRule, from: AlarmState, decision: AlarmDecision, at: Date, region: string): { subject: string; message: string } {
  const body = {
    AlarmName: alarm.AlarmName,
    AlarmDescription: alarm.AlarmDescription ?? null,
    AWSAccountId: alarm.AlarmArn?.split(':')[4] ?? '123456789012',
    NewStateValue: decision.state,
    NewStateReason: decision.reason,
    StateChangeTime: at.toISOString().replace('Z', '+0000'),
    Region: region,
    AlarmArn: alarm.AlarmArn,
    OldStateValue: from,
    OKActions: alarm.OKActions ?? [],
    AlarmActions: alarm.AlarmActions ?? [],
    InsufficientDataActions: alarm.InsufficientDataActions ?? [],
    Trigger: {
      MetricName: alarm.MetricName,
      Namespace: alarm.Namespace,
      StatisticType: 'Statistic',
      Statistic: rule.statistic.toUpperCase(),
      Unit: alarm.Unit ?? null,
      Dimensions: (alarm.Dimensions ?? []).map((d) => ({ value: d.Value, name: d.Name })),
      Period: rule.periodSeconds,
      EvaluationPeriods: rule.evaluationPeriods,
      DatapointsToAlarm: rule.datapointsToAlarm,
      ComparisonOperator: rule.comparison,
      Threshold: rule.threshold,
      TreatMissingData: rule.treatMissingData,
    },
  };
  // SNS subjects are at most 100 characters.
  return { subject: `${decision.state}: "${alarm.AlarmName ?? ''}" in ${region}`.slice(0, 100), message: JSON.stringify(body) };
}

export interface AlarmEvaluatorOptions {
  cloudwatch: CloudWatchClient;
  sns: SNSClient;
  /** Only alarms whose name starts with this (the stack's). @default every alarm */
  alarmNamePrefix?: string;
  /** Periods are divided by this. @default 1 */
  timeScale?: number;
  /** @default 1000 */
  intervalMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** Region name in the notifications. @default 'us-east-1' */
  region?: string;
  /** Each state change, after it was published. */
  onChange?: (change: { alarmName: string; from: AlarmState; to: AlarmState; reason: string }) => void;
  /** A failed tick (the next one retries). */
  onError?: (error: Error) => void;
}

/** The evaluation loop. The constructor only assigns; {@link start} begins ticking. */
export class AlarmEvaluator {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: AlarmEvaluatorOptions) {}

  start(): void {
    this.stopped = false;
    const tick = (): void => {
      if (this.stopped) return;
      void this.evaluate()
        .catch((error: Error) => this.options.onError?.(error))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs ?? 1000);
        });
    };
    tick();
  }

  /** One evaluation of every alarm (also what a drill calls at its end); concurrent calls share one. */
  evaluate(): Promise<void> {
    this.running ??= this.evaluateOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async evaluateOnce(): Promise<void> {
    const { cloudwatch } = this.options;
    const alarms: MetricAlarm[] = [];
    let token: string | undefined;
    do {
      const page = await cloudwatch.send(
        new DescribeAlarmsCommand({ ...(this.options.alarmNamePrefix ? { AlarmNamePrefix: this.options.alarmNamePrefix } : {}), NextToken: token }),
      );
      alarms.push(...(page.MetricAlarms ?? []));
      token = page.NextToken;
    } while (token);
    for (const alarm of alarms) await this.evaluateAlarm(alarm);
  }

  private async evaluateAlarm(alarm: MetricAlarm): Promise<void> {
    const rule = alarmRule(alarm);
    if (!rule || !alarm.AlarmName) return;
    const now = (this.options.now ?? Date.now)();
    const periodMs = Math.max(1000, Math.round((rule.periodSeconds * 1000) / (this.options.timeScale ?? 1)));
    const stats = await this.options.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: alarm.Namespace,
        MetricName: alarm.MetricName,
        Dimensions: alarm.Dimensions,
        StartTime: new Date(now - rule.evaluationPeriods * periodMs - 1000),
        EndTime: new Date(now + 1000),
        Period: 1,
        Statistics: ['Sum', 'Maximum', 'Minimum', 'SampleCount'],
      }),
    );
    const points: MetricPoint[] = (stats.Datapoints ?? []).map((d) => ({
      timestamp: d.Timestamp?.getTime() ?? 0,
      sum: d.Sum ?? 0,
      maximum: d.Maximum ?? 0,
      minimum: d.Minimum ?? 0,
      sampleCount: d.SampleCount ?? 0,
    }));
    const current = (alarm.StateValue ?? 'INSUFFICIENT_DATA') as AlarmState;
    const decision = evaluateAlarm(rule, points, now, periodMs, current);
    if (decision.state === current) return;
    await this.options.cloudwatch.send(
      new SetAlarmStateCommand({ AlarmName: alarm.AlarmName, StateValue: decision.state, StateReason: decision.reason.slice(0, 1023) }),
    );
    const actions = decision.state === 'ALARM' ? alarm.AlarmActions : decision.state === 'OK' ? alarm.OKActions : alarm.InsufficientDataActions;
    const note = alarmNotification(alarm, rule, current, decision, new Date(now), this.options.region ?? 'us-east-1');
    for (const topic of (actions ?? []).filter((a) => a.startsWith('arn:aws:sns:'))) {
      await this.options.sns.send(new PublishCommand({ TopicArn: topic, Subject: note.subject, Message: note.message }));
    }
    this.options.onChange?.({ alarmName: alarm.AlarmName, from: current, to: decision.state, reason: decision.reason });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
