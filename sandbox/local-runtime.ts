/**
 * Runs the evaluator handler outside Lambda (sandbox, tests): reads the state table's stream
 * through the DynamoDB Streams API, keeps the records the CDK event source would let through
 * (the same {@link STREAM_FILTER_PATTERNS}), delivers them in Lambda's DynamoDBStreamEvent shape,
 * and fires the scheduled sweep on a timer.
 *
 * Like Lambda's event source mapping: one batch at a time per shard, in order; a batch whose
 * handler reports `batchItemFailures` (or throws) is retried from the earliest failed record,
 * up to `maxRetries` times, then dropped with a log line (Lambda's MaximumRetryAttempts).
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type DynamoDBStreamsClient,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { matchesStreamFilter, STREAM_FILTER_PATTERNS, type FilterPattern } from '../core/stream-filter.js';
import { jsonLogger, type Logger } from '../functions/log.js';

export interface LocalRuntimeOptions {
  streams: DynamoDBStreamsClient;
  /** The stream to read; found with DescribeTable on `dynamodb` + `tableName` when absent. */
  streamArn?: string;
  dynamodb?: DynamoDBClient;
  tableName?: string;
  /** The evaluator handler (functions/handlers/evaluator.ts `handler`). */
  handler: (event: unknown) => Promise<unknown>;
  /** Where to start reading shards that exist at start. @default 'LATEST' */
  startingPosition?: 'LATEST' | 'TRIM_HORIZON';
  /** @default 500 */
  pollIntervalMs?: number;
  /** Sweep period; 0 disables the sweep. @default 60000 (the CDK schedule's rate) */
  sweepIntervalMs?: number;
  /** @default 100 */
  batchSize?: number;
  /** @default 3 */
  maxRetries?: number;
  /** @default STREAM_FILTER_PATTERNS */
  filters?: readonly FilterPattern[];
  log?: Logger;
  /** Called after every delivery (tests, the sandbox's progress display). */
  onDelivery?: (event: DynamoDBStreamEvent | { source: string }, result: unknown) => void;
}

interface ShardState {
  iterator: string | null;
  /** Records of a failed batch awaiting redelivery, and how often they were tried. */
  pending: DynamoDBRecord[];
  attempts: number;
}

export class LocalRuntime {
  private readonly shards = new Map<string, ShardState>();
  private streamArn: string | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: LocalRuntimeOptions) {
    this.log = options.log ?? jsonLogger({ service: 'pgvigil-local-runtime' });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.streamArn = this.options.streamArn ?? (await this.findStream());
    await this.refreshShards(this.options.startingPosition ?? 'LATEST');
    this.running = true;
    this.loop = this.pollLoop();
    const every = this.options.sweepIntervalMs ?? 60_000;
    if (every > 0) this.sweepTimer = setInterval(() => this.fireSweep(), every);
  }

  /** Stops polling and the timer, and waits for an in-flight delivery to finish. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.wake?.();
    await this.loop;
    await this.sweeping;
  }

  /** Runs the sweep now (the timer calls this too); overlapping sweeps are skipped. */
  fireSweep(): void {
    if (this.sweeping) return;
    const event = { source: 'pgvigil.local-runtime', 'detail-type': 'Scheduled Event', time: new Date().toISOString() };
    this.sweeping = this.options
      .handler(event)
      .then((result) => this.options.onDelivery?.(event, result))
      .catch((error: unknown) => this.log.error('sweep failed', { error }))
      .finally(() => {
        this.sweeping = undefined;
      });
  }

  private async findStream(): Promise<string> {
    const { dynamodb, tableName } = this.options;
    if (!dynamodb || !tableName) throw new Error('LocalRuntime needs streamArn, or dynamodb and tableName to find it');
    const table = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const arn = table.Table?.LatestStreamArn;
    if (!arn) throw new Error(`table ${tableName} has no stream: the evaluator needs NEW_AND_OLD_IMAGES`);
    return arn;
  }

  private async refreshShards(position: 'LATEST' | 'TRIM_HORIZON'): Promise<void> {
    const described = await this.options.streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn }));
    for (const shard of described.StreamDescription?.Shards ?? []) {
      const id = shard.ShardId;
      if (!id || this.shards.has(id)) continue;
      const it = await this.options.streams.send(
        new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: id, ShardIteratorType: position }),
      );
      this.shards.set(id, { iterator: it.ShardIterator ?? null, pending: [], attempts: 0 });
    }
  }

  private async pollLoop(): Promise<void> {
    let rounds = 0;
    while (this.running) {
      try {
        // Shards that appear later are read from their beginning: nothing written is skipped.
        if (++rounds % 20 === 0) await this.refreshShards('TRIM_HORIZON');
        let delivered = false;
        for (const [id, shard] of this.shards) {
          if (!this.running) break;
          if (await this.pollShard(id, shard)) delivered = true;
        }
        // Records written while the handler ran (the observers' reports of a crash while the
        // primary's own is evaluated) are read at once: the interval is an idle stream's wait.
        if (delivered) continue;
      } catch (error) {
        this.log.error('stream poll failed', { error });
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.options.pollIntervalMs ?? 500);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Reads and delivers one batch of the shard; true when a batch was delivered and handled. */
  private async pollShard(id: string, shard: ShardState): Promise<boolean> {
    let batch = shard.pending;
    if (batch.length === 0) {
      if (shard.iterator === null) {
        this.shards.delete(id); // closed and drained
        return false;
      }
      const page = await this.options.streams.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: this.options.batchSize ?? 100 }));
      shard.iterator = page.NextShardIterator ?? null;
      const filters = this.options.filters ?? STREAM_FILTER_PATTERNS;
      batch = (page.Records ?? []).map((r) => toLambdaRecord(r, this.streamArn ?? '')).filter((r) => matchesStreamFilter(r, filters));
      shard.attempts = 0;
    }
    if (batch.length === 0) return false;
    const event: DynamoDBStreamEvent = { Records: batch };
    let failedFrom = -1;
    let result: unknown;
    try {
      result = await this.options.handler(event);
      const failures = (result as { batchItemFailures?: { itemIdentifier: string }[] } | undefined)?.batchItemFailures ?? [];
      if (failures.length > 0) {
        const failed = new Set(failures.map((f) => f.itemIdentifier));
        failedFrom = batch.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
        if (failedFrom < 0) failedFrom = 0;
      }
    } catch (error) {
      this.log.error('stream batch handler threw', { error });
      failedFrom = 0;
      result = { error: String(error) };
    }
    this.options.onDelivery?.(event, result);
    if (failedFrom < 0) {
      shard.pending = [];
      return true;
    }
    // A failed batch is retried after the interval, not in a tight loop.
    shard.attempts += 1;
    if (shard.attempts > (this.options.maxRetries ?? 3)) {
      this.log.error('stream records dropped after retries', { shard: id, records: batch.length - failedFrom });
      shard.pending = [];
      return false;
    }
    shard.pending = batch.slice(failedFrom);
    return false;
  }
}

/** A DynamoDB Streams API record in the shape Lambda delivers it. */
export function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const d = record.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: record.eventSource ?? 'aws:dynamodb',
    awsRegion: record.awsRegion,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      ...(d.Keys ? { Keys: toJson(d.Keys) } : {}),
      ...(d.NewImage ? { NewImage: toJson(d.NewImage) } : {}),
      ...(d.OldImage ? { OldImage: toJson(d.OldImage) } : {}),
      ...(d.SequenceNumber ? { SequenceNumber: d.SequenceNumber } : {}),
      ...(d.SizeBytes !== undefined ? { SizeBytes: d.SizeBytes } : {}),
      ...(d.StreamViewType ? { StreamViewType: d.StreamViewType } : {}),
    },
  } as DynamoDBRecord;
}

/** The SDK's attribute values as Lambda's JSON (binary as base64, the rest as is). */
function toJson(image: Record<string, unknown>): Record<string, never> {
  const convert = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (Array.isArray(v)) return v.map(convert);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined && k !== '$unknown') out[k] = convert(x);
      return out;
    }
    return v;
  };
  return convert(image) as Record<string, never>;
}
