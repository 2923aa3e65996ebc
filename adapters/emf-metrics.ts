/**
 * CloudWatch metrics as Embedded Metric Format log lines (docs/controller.md): in Lambda a line on stdout is a
 * metric, with no PutMetricData call to pay for or to fail. One line per dimension set per flush.
 */
import { METRICS_NAMESPACE } from '../core/metrics.js';
import type { Metrics } from '../core/ports.js';

type Unit = 'Count' | 'Milliseconds' | 'Seconds' | 'Bytes';

interface Group {
  dimensions: Record<string, string>;
  values: Map<string, { unit: Unit; values: number[] }>;
}

export class EmfMetrics implements Metrics {
  private groups = new Map<string, Group>();

  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
    private readonly now: () => number = Date.now,
    private readonly namespace: string = METRICS_NAMESPACE,
  ) {}

  put(name: string, value: number, unit: Unit, dimensions: Record<string, string>): void {
    if (!Number.isFinite(value)) return;
    const key = JSON.stringify(Object.entries(dimensions).sort());
    let group = this.groups.get(key);
    if (!group) {
      group = { dimensions: { ...dimensions }, values: new Map() };
      this.groups.set(key, group);
    }
    const entry = group.values.get(name) ?? { unit, values: [] };
    entry.values.push(value);
    group.values.set(name, entry);
  }

  flush(): void {
    const timestamp = this.now();
    for (const group of this.groups.values()) {
      const metrics = [...group.values.entries()].map(([Name, v]) => ({ Name, Unit: v.unit }));
      const body: Record<string, unknown> = {
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: [Object.keys(group.dimensions)], Metrics: metrics }],
        },
        ...group.dimensions,
      };
      for (const [name, v] of group.values) body[name] = v.values.length === 1 ? v.values[0] : v.values;
      this.write(JSON.stringify(body));
    }
    this.groups.clear();
  }
}
