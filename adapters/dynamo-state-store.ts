/**
 * The cluster state in DynamoDB (docs/architecture.md, "State layout"): one strongly consistent Query per
 * cluster, conditional writes for everything that matters for safety, and validation of every
 * record written and every item read back, with the schemas of core/model.ts.
 *
 * A lost race (ConditionalCheckFailedException) is an ordinary `{ ok: false }` result.
 *
 * Writes are strict: a record with a bad field or an unknown key is refused, naming it, and
 * nothing is written. Reads drop unknown keys instead ({@link STORED}) and check everything else.
 */
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  PutItemCommand,
  QueryCommand,
  DeleteItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { PgvigilError } from '../core/errors.js';
import { PROMOTING_OPERATIONS } from '../core/engine/lease.js';
import {
  ClusterRecordSchema,
  EventRecordSchema,
  HeartbeatSchema,
  LeaseObservationSchema,
  LeaseSchema,
  MonitoringSampleSchema,
  NodeRecordSchema,
  type ClusterRecord,
  type EventRecord,
  type Heartbeat,
  type LeaseObservation,
  type MonitoringSample,
  type NodeRecord,
  type Validated,
} from '../core/model.js';
import type { CheckOptions } from '../core/schema.js';
import type { ClusterStateStore, ListEventsOptions, LoadedCluster, RejectedHeartbeat, RequestOptions, WriteResult } from '../core/ports.js';
import {
  ATTENTION_ATTRIBUTE,
  CLUSTERS_INDEX,
  CLUSTERS_INDEX_PK,
  CLUSTERS_INDEX_PK_VALUE,
  KIND_ATTRIBUTE,
  PARTITION_KEY,
  SORT_KEY,
  TTL_ATTRIBUTE,
  clusterIdFromPartition,
  keys,
  nodeIdFromSortKey,
  type ItemKind,
} from '../core/table.js';

type Item = Record<string, AttributeValue>;

/** Attributes of the item that are layout, not domain data. */
const LAYOUT_ATTRIBUTES = [PARTITION_KEY, SORT_KEY, KIND_ATTRIBUTE, ATTENTION_ATTRIBUTE, CLUSTERS_INDEX_PK, TTL_ATTRIBUTE];

function toItem(kind: ItemKind, clusterId: string, sk: string, data: object, extra: Record<string, unknown> = {}): Item {
  return marshall(
    { ...data, ...extra, [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: sk, [KIND_ATTRIBUTE]: kind },
    { removeUndefinedValues: true },
  );
}

/** The domain fields of an item (or a stream image): unmarshalled, without the layout attributes. */
export function fromItem(item: Item): Record<string, unknown> {
  const data = unmarshall(item);
  for (const a of LAYOUT_ATTRIBUTES) delete data[a];
  return data;
}

/**
 * How items read back are checked. An item may have been written by another version of pgvigil
 * during a rolling upgrade: a key this version does not know is dropped, not an error (a field
 * added later has a default instead). Types, ranges and sizes are checked as on writing.
 */
export const STORED: CheckOptions = { unknownKeys: 'drop' };

/** The value of a passed validation; a failed one is a BAD_INPUT error naming every bad field. */
function validOrThrow<T>(result: Validated<T>, what: string): T {
  if (result.ok) return result.value;
  throw new PgvigilError('BAD_INPUT', `${what} is not valid: ${result.errors.join('; ')}`);
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** The controller-owned fields {@link DynamoStateStore.updateCluster} may change. */
const UPDATABLE_CLUSTER_FIELDS = ['term', 'primary_node_id', 'paused', 'paused_by', 'operation', 'lease_observation', 'settings', 'reported_conditions', 'scheduled_switchover'] as const;

export class DynamoStateStore implements ClusterStateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    /** Items per page of {@link listClusters} (DynamoDB's own 1 MB page when unset); tests lower it to cross page boundaries. */
    private readonly options: { listPageSize?: number } = {},
  ) {}

  async load(clusterId: string, options: RequestOptions = {}): Promise<LoadedCluster | undefined> {
    const items = await this.queryAll(
      {
        TableName: this.tableName,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :state)',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
        ExpressionAttributeValues: marshall({ ':pk': keys.partition(clusterId), ':state': keys.prefix.state }),
      },
      options,
    );
    let cluster: ClusterRecord | undefined;
    const nodes: NodeRecord[] = [];
    const heartbeats: Heartbeat[] = [];
    const rejected: RejectedHeartbeat[] = [];
    for (const item of items) {
      const sk = item[SORT_KEY]?.S ?? '';
      const data = fromItem(item);
      if (sk === keys.cluster()) {
        const result = ClusterRecordSchema.check(data, STORED);
        if (!result.ok) {
          throw new PgvigilError('BAD_INPUT', `the cluster record of "${clusterId}" in table ${this.tableName} is not valid`, {
            detail: result.errors.join('\n'),
          });
        }
        cluster = result.value;
      } else if (sk.startsWith(keys.prefix.node)) {
        const result = NodeRecordSchema.check(data, STORED);
        if (!result.ok) {
          throw new PgvigilError('BAD_INPUT', `node record ${sk} of cluster "${clusterId}" is not valid`, {
            detail: result.errors.join('\n'),
          });
        }
        nodes.push(result.value);
      } else if (sk.startsWith(keys.prefix.heartbeat)) {
        const keyNodeId = nodeIdFromSortKey(sk) ?? null;
        const verdict = checkHeartbeat(data, clusterId, keyNodeId);
        if (verdict.ok) heartbeats.push(verdict.value);
        else rejected.push({ node_id: keyNodeId, errors: verdict.errors });
      }
    }
    if (!cluster) return undefined;
    nodes.sort((a, b) => a.node_id - b.node_id);
    heartbeats.sort((a, b) => a.node_id - b.node_id);
    return { snapshot: { cluster, nodes, heartbeats }, rejected };
  }

  async listClusters(): Promise<string[]> {
    // The sparse index holds only cluster records (keys only), so this reads no node, heartbeat or
    // event; every page is followed (queryAll).
    const items = await this.queryAll({
      TableName: this.tableName,
      IndexName: CLUSTERS_INDEX,
      ...(this.options.listPageSize !== undefined ? { Limit: this.options.listPageSize } : {}),
      KeyConditionExpression: '#g = :g',
      ExpressionAttributeNames: { '#g': CLUSTERS_INDEX_PK },
      ExpressionAttributeValues: marshall({ ':g': CLUSTERS_INDEX_PK_VALUE }),
    });
    return items
      .map((i) => clusterIdFromPartition(i[PARTITION_KEY]?.S ?? ''))
      .filter((id): id is string => id !== undefined)
      .sort();
  }

  async createCluster(record: ClusterRecord): Promise<WriteResult> {
    const valid = ClusterRecordSchema.parse(record);
    return this.conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem('cluster', valid.cluster_id, keys.cluster(), valid, { [CLUSTERS_INDEX_PK]: CLUSTERS_INDEX_PK_VALUE }),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
      }),
    );
  }

  async updateCluster(
    clusterId: string,
    expectedVersion: number,
    change: Partial<Pick<ClusterRecord, (typeof UPDATABLE_CLUSTER_FIELDS)[number]>>,
    now: number,
    guard?: { leaseRvn: string | null },
  ): Promise<WriteResult> {
    validOrThrow(ClusterRecordSchema.checkSome(change), `the change to the cluster record of "${clusterId}"`);
    const names: Record<string, string> = { '#version': 'version', '#updated_at': 'updated_at' };
    const values: Record<string, unknown> = { ':expected': expectedVersion, ':next': expectedVersion + 1, ':now': now };
    const sets = ['#version = :next', '#updated_at = :now'];
    for (const field of UPDATABLE_CLUSTER_FIELDS) {
      if (!(field in change)) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = change[field];
      sets.push(`#${field} = :${field}`);
    }
    let condition = '#version = :expected';
    if (guard) {
      Object.assign(names, { '#lease': 'lease', '#rvn': 'rvn' });
      if (guard.leaseRvn === null) condition += ' AND attribute_not_exists(#lease.#rvn)';
      else {
        values[':lease_rvn'] = guard.leaseRvn;
        condition += ' AND #lease.#rvn = :lease_rvn';
      }
    }
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: keys.cluster() }),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }),
      }),
    );
  }

  async renewOperation(clusterId: string, operationId: string, owner: string, deadline: number, now: number): Promise<WriteResult> {
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: keys.cluster() }),
        UpdateExpression: 'SET #op.#deadline = :deadline',
        ConditionExpression: '#op.#id = :id AND #op.#owner = :owner AND #op.#deadline > :now',
        ExpressionAttributeNames: { '#op': 'operation', '#deadline': 'deadline', '#id': 'id', '#owner': 'owner' },
        ExpressionAttributeValues: marshall({ ':deadline': deadline, ':id': operationId, ':owner': owner, ':now': now }),
      }),
    );
  }

  async putLeaseObservation(clusterId: string, term: number, observation: LeaseObservation): Promise<WriteResult> {
    // Only while the term is unchanged and the lease still carries the observed RVN (or there is
    // no lease at all): a slow evaluator can never overwrite a newer observation with an older one.
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: keys.cluster() }),
        UpdateExpression: 'SET #obs = :obs',
        ConditionExpression: '#term = :term AND (#lease.#rvn = :rvn OR attribute_not_exists(#lease.#rvn))',
        ExpressionAttributeNames: { '#obs': 'lease_observation', '#term': 'term', '#lease': 'lease', '#rvn': 'rvn' },
        ExpressionAttributeValues: marshall({ ':obs': LeaseObservationSchema.parse(observation), ':term': term, ':rvn': observation.rvn }),
      }),
    );
  }

  async putNode(node: NodeRecord): Promise<void> {
    const valid = NodeRecordSchema.parse(node);
    await this.client.send(
      new PutItemCommand({ TableName: this.tableName, Item: toItem('node', valid.cluster_id, keys.node(valid.node_id), valid) }),
    );
  }

  async deleteNode(clusterId: string, nodeId: number): Promise<void> {
    for (const sk of [keys.node(nodeId), keys.heartbeat(nodeId)]) {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: marshall({ [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: sk }),
        }),
      );
    }
  }

  async putHeartbeat(heartbeat: Heartbeat, attention: boolean): Promise<void> {
    const valid = validOrThrow(HeartbeatSchema.check(heartbeat), `the heartbeat of node ${String((heartbeat as Partial<Heartbeat> | null)?.node_id)}`);
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem('heartbeat', valid.cluster_id, keys.heartbeat(valid.node_id), valid, { [ATTENTION_ATTRIBUTE]: attention }),
      }),
    );
  }

  async renewLease(clusterId: string, nodeId: number, term: number, rvn: string, now: number, options: RequestOptions = {}): Promise<WriteResult> {
    return this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ [PARTITION_KEY]: keys.partition(clusterId), [SORT_KEY]: keys.cluster() }),
        UpdateExpression: 'SET #lease = :lease',
        // mayRenewLease (core/engine/lease.ts): the term's primary, or the candidate of the
        // failover or switchover that claimed the term.
        ConditionExpression: '#term = :term AND (#primary = :node OR (#op.#kind IN (:failover, :switchover) AND #op.#term = :term AND #op.#candidate = :node))',
        ExpressionAttributeNames: { '#lease': 'lease', '#term': 'term', '#primary': 'primary_node_id', '#op': 'operation', '#kind': 'kind', '#candidate': 'candidate_node_id' },
        ExpressionAttributeValues: marshall({
          ':lease': LeaseSchema.parse({ holder_node_id: nodeId, term, rvn, renewed_at: now }),
          ':term': term,
          ':node': nodeId,
          ':failover': PROMOTING_OPERATIONS[0],
          ':switchover': PROMOTING_OPERATIONS[1],
        }),
      }),
      options,
    );
  }

  async appendEvent(event: EventRecord): Promise<void> {
    const valid = validOrThrow(EventRecordSchema.check(event), `the event "${String((event as Partial<EventRecord> | null)?.event)}"`);
    const unique = `${valid.event}-${randomUUID().slice(0, 8)}`;
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem('event', valid.cluster_id, keys.event(valid.timestamp, valid.node_id, unique), valid),
      }),
    );
  }

  async listEvents(clusterId: string, options: ListEventsOptions = {}): Promise<EventRecord[]> {
    const filters: string[] = [];
    const names: Record<string, string> = { '#pk': PARTITION_KEY, '#sk': SORT_KEY };
    const values: Record<string, unknown> = { ':pk': keys.partition(clusterId), ':prefix': keys.prefix.event };
    let keyCondition = '#pk = :pk AND begins_with(#sk, :prefix)';
    if (options.sinceMs !== undefined) {
      keyCondition = '#pk = :pk AND #sk BETWEEN :from AND :to';
      values[':from'] = keys.event(options.sinceMs, 0, '');
      values[':to'] = `${keys.prefix.event}~`;
      delete values[':prefix'];
    }
    if (options.event !== undefined) {
      filters.push('#event = :event');
      names['#event'] = 'event';
      values[':event'] = options.event;
    }
    if (options.nodeId !== undefined) {
      filters.push('#node = :node');
      names['#node'] = 'node_id';
      values[':node'] = options.nodeId;
    }
    const events: EventRecord[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: keyCondition,
          ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values),
          ScanIndexForward: !options.newestFirst,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const result = EventRecordSchema.check(fromItem(item), STORED);
        if (result.ok) events.push(result.value);
        if (options.limit !== undefined && events.length >= options.limit) return events;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return events;
  }

  async putMonitoringSample(sample: MonitoringSample, ttlSecs: number): Promise<void> {
    MonitoringSampleSchema.parse(sample);
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem('monitoring', sample.cluster_id, keys.monitoring(sample.last_monitor_time, sample.standby_node_id), sample, {
          [TTL_ATTRIBUTE]: Math.floor(sample.last_monitor_time / 1000) + ttlSecs,
        }),
      }),
    );
  }

  async deleteMonitoringBefore(clusterId: string, beforeMs: number): Promise<number> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
      ExpressionAttributeValues: marshall({
        ':pk': keys.partition(clusterId),
        ':from': keys.prefix.monitoring,
        ':to': keys.monitoring(Math.max(0, beforeMs - 1), 9_999_999_999),
      }),
      ProjectionExpression: '#pk, #sk',
    });
    for (let i = 0; i < items.length; i += 25) {
      let requests: Item[] = items.slice(i, i + 25);
      while (requests.length > 0) {
        const result = await this.client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: requests.map((Key) => ({ DeleteRequest: { Key } })) } }),
        );
        requests = (result.UnprocessedItems?.[this.tableName] ?? []).flatMap((r) => (r.DeleteRequest?.Key ? [r.DeleteRequest.Key] : []));
      }
    }
    return items.length;
  }

  private async queryAll(input: QueryCommandInput, options: RequestOptions = {}): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }), options);
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private async conditional(command: PutItemCommand | UpdateItemCommand, options: RequestOptions = {}): Promise<WriteResult> {
    try {
      await this.client.send(command as PutItemCommand, options);
      return { ok: true };
    } catch (error) {
      if (isConditionFailure(error)) return { ok: false, reason: 'condition_failed' };
      throw error;
    }
  }
}

/**
 * A heartbeat counts only if it is schema-valid and belongs where it is stored: its cluster and
 * node must match the item's key (a foreign heartbeat is rejected, never used).
 */
export function checkHeartbeat(
  data: unknown,
  clusterId: string,
  keyNodeId: number | null,
): { ok: true; value: Heartbeat } | { ok: false; errors: string[] } {
  const result = HeartbeatSchema.check(data, STORED);
  if (!result.ok) return result;
  const errors: string[] = [];
  if (result.value.cluster_id !== clusterId) errors.push(`cluster_id: heartbeat of cluster "${result.value.cluster_id}" stored under cluster "${clusterId}"`);
  if (keyNodeId !== null && result.value.node_id !== keyNodeId) errors.push(`node_id: heartbeat of node ${result.value.node_id} stored under node ${keyNodeId}`);
  return errors.length === 0 ? result : { ok: false, errors };
}
