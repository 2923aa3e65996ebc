/**
 * What CloudWatch Logs does with the controller's Embedded Metric Format lines
 * (adapters/emf-metrics.ts), for the sandbox: each line becomes PutMetricData in the emulator, so
 * the stack's alarms (sandbox/alarm-evaluator.ts) are judged on the metrics the controller emits.
 * In AWS the lines go to the function's log group and CloudWatch extracts them; the sandbox has no
 * log groups to extract from.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum, type PutMetricDataCommandInput, type StandardUnit } from '@aws-sdk/client-cloudwatch';

interface EmfDirective {
  Namespace: string;
  Dimensions: string[][];
  Metrics: Array<{ Name: string; Unit?: string }>;
}

/** The PutMetricData requests of one EMF line (one per namespace); [] for a line that is not EMF. */
export function emfMetricData(line: string): PutMetricDataCommandInput[] {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return [];
  }
  const aws = body._aws as { Timestamp?: number; CloudWatchMetrics?: EmfDirective[] } | undefined;
  if (!aws || !Array.isArray(aws.CloudWatchMetrics)) return [];
  const timestamp = new Date(typeof aws.Timestamp === 'number' ? aws.Timestamp : Date.now());
  return aws.CloudWatchMetrics.map((directive) => {
    const data: MetricDatum[] = [];
    for (const keys of directive.Dimensions) {
      const dimensions = keys.map((key) => ({ Name: key, Value: String(body[key]) }));
      for (const metric of directive.Metrics) {
        const raw = body[metric.Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
        for (const value of values) {
          data.push({ MetricName: metric.Name, Dimensions: dimensions, Timestamp: timestamp, Value: value, ...(metric.Unit ? { Unit: metric.Unit as StandardUnit } : {}) });
        }
      }
    }
    return { Namespace: directive.Namespace, MetricData: data };
  }).filter((input) => (input.MetricData?.length ?? 0) > 0);
}

/** A sink for EmfMetrics' lines: sends each to the emulator; a failed send is reported, not thrown. */
export class EmfToCloudWatch {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  write(line: string): void {
    for (const input of emfMetricData(line)) {
      const sent = this.cloudwatch.send(new PutMetricDataCommand(input)).then(
        () => undefined,
        (error: Error) => this.onError(error),
      );
      this.pending.add(sent);
      void sent.finally(() => this.pending.delete(sent));
    }
  }

  /** Waits for every send still in flight. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
