/**
 * The flight recorder in the state table (core/flight-recorder.ts): one `DEC#<ms>#<id>` item per
 * decision kept, in the cluster's partition, expiring through the table's TTL attribute. The
 * decision and its snapshot travel gzip-compressed in one binary attribute, so an item stays far
 * below DynamoDB's 400 KB limit; a snapshot that would not fit is not kept (`too_large`).
 *
 * The item's `kind` is `decision`: the evaluator's stream filter drops it (core/stream-filter.ts).
 */
import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DECISION_CODES, type Decision } from '../core/decision.js';
import { PgvigilError } from '../core/errors.js';
import type { RecordedDecision } from '../core/flight-recorder.js';
import { ClusterSnapshotSchema, type ClusterSnapshot } from '../core/model.js';
import type { FlightRecorder } from '../core/ports.js';
import { KIND_ATTRIBUTE, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, keys } from '../core/table.js';
import { STORED, fromItem } from './dynamo-state-store.js';

/** The largest compressed body kept: well inside the 400 KB item limit with the other attributes. */
export const MAX_RECORD_BODY_BYTES = 300_000;

/** Never unpack more than this from a stored body, whatever it claims. */
const MAX_UNPACKED_BYTES = 16 * 1024 * 1024;

export class DynamoFlightRecorder implements FlightRecorder {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async record(entry: RecordedDecision, ttlSecs: number): Promise<'recorded' | 'too_large'> {
    const body = gzipSync(JSON.stringify({ decision: entry.decision, snapshot: entry.snapshot }));
    if (body.byteLength > MAX_RECORD_BODY_BYTES) return 'too_large';
    const item = marshall({
      [PARTITION_KEY]: keys.partition(entry.cluster_id),
      [SORT_KEY]: keys.decision(entry.decided_at, randomUUID().slice(0, 8)),
      [KIND_ATTRIBUTE]: 'decision',
      [TTL_ATTRIBUTE]: Math.floor(entry.decided_at / 1000) + ttlSecs,
      cluster_id: entry.cluster_id,
      decided_at: entry.decided_at,
      code: entry.decision.code,
      body,
    });
    await this.client.send(new PutItemCommand({ TableName: this.tableName, Item: item }));
    return 'recorded';
  }

  async at(clusterId: string, atMs: number): Promise<RecordedDecision | undefined> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
        ExpressionAttributeValues: marshall({ ':pk': keys.partition(clusterId), ':from': keys.prefix.decision, ':to': keys.decision(atMs, '~') }),
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const item = page.Items?.[0];
    return item ? readRecord(item, clusterId) : undefined;
  }
}

/** Unpacks and checks a stored decision: a damaged item is an error naming it, never a guess. */
function readRecord(item: Record<string, AttributeValue>, clusterId: string): RecordedDecision {
  const sk = item[SORT_KEY]?.S ?? '?';
  const bad = (why: string): PgvigilError => new PgvigilError('BAD_INPUT', `flight recorder item ${sk} of cluster "${clusterId}" is not valid: ${why}`);
  const data = fromItem(item);
  const decidedAt = data.decided_at;
  if (typeof decidedAt !== 'number' || !Number.isSafeInteger(decidedAt)) throw bad('decided_at is not a time');
  if (!(data.body instanceof Uint8Array)) throw bad('it has no body');
  let parsed: { decision?: unknown; snapshot?: unknown };
  try {
    parsed = JSON.parse(gunzipSync(data.body, { maxOutputLength: MAX_UNPACKED_BYTES }).toString('utf8')) as typeof parsed;
  } catch (error) {
    throw bad(`its body does not unpack: ${(error as Error).message}`);
  }
  const decision = parsed.decision as Partial<Decision> | undefined;
  if (
    typeof decision !== 'object' || decision === null ||
    !DECISION_CODES.includes(decision.code as Decision['code']) ||
    !Array.isArray(decision.reasons) || !decision.reasons.every((r) => typeof r === 'string')
  ) {
    throw bad('its decision has no valid code and reasons');
  }
  let snapshot: ClusterSnapshot | null = null;
  if (parsed.snapshot !== null) {
    const checked = ClusterSnapshotSchema.check(parsed.snapshot, STORED);
    if (!checked.ok) throw bad(`its snapshot: ${checked.errors.slice(0, 5).join('; ')}`);
    snapshot = checked.value;
  }
  // A decision kept by an older version may lack a newer field: the renderer then shows less.
  const missing: Omit<Decision, 'code' | 'reasons'> = { actions: [], suppressed_actions: [], alarms: [], events: [], lease_observation: null, candidates: [], primary_node_id: null, operation: null };
  const full = { ...missing, ...decision } as Decision;
  return { cluster_id: clusterId, decided_at: decidedAt, decision: full, snapshot };
}
