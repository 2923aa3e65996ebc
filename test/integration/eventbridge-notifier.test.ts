import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStateTable } from '../../adapters/dynamo-table.js';
import { EVENT_DETAIL_TYPE, EVENT_SOURCE, EventBridgeNotifier } from '../../adapters/eventbridge-notifier.js';
import { PgvigilError } from '../../core/errors.js';
import { DEFAULT_CLUSTER_SETTINGS, type EventRecord } from '../../core/model.js';
import { recordEvent } from '../../functions/controller.js';
import { buildDeps, readEnvironment } from '../../functions/environment.js';
import { startMoto, type Moto } from '../support/moto.js';

const BUS = 'pgvigil-events';
const T0 = 1_760_000_000_000;

const event = (n: number, overrides: Partial<EventRecord> = {}): EventRecord => ({
  cluster_id: 'main',
  node_id: 2,
  event: 'standby_promote',
  successful: true,
  timestamp: T0 + n * 1000,
  details: `event number ${n}`,
  term: 7,
  ...overrides,
});

interface Delivered {
  source: string;
  'detail-type': string;
  detail: Record<string, unknown>;
}

describe('EventBridgeNotifier against moto (a bus whose rules deliver to SQS queues)', () => {
  let moto: Moto;
  let events: EventBridgeClient;
  let sqs: SQSClient;
  let sns: SNSClient;
  /** Every pgvigil event on the bus. */
  let allQueue = '';
  /** Only failover promotions (a rule matching on a detail field). */
  let promoteQueue = '';
  /** The SNS topic's subscriber. */
  let topicQueue = '';
  let topicArn = '';

  async function queue(name: string): Promise<{ url: string; arn: string }> {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    return { url, arn: attrs.Attributes?.QueueArn ?? '' };
  }

  async function rule(name: string, pattern: object, target: string): Promise<void> {
    await events.send(new PutRuleCommand({ Name: name, EventBusName: BUS, EventPattern: JSON.stringify(pattern) }));
    await events.send(new PutTargetsCommand({ Rule: name, EventBusName: BUS, Targets: [{ Id: 'q', Arn: target }] }));
  }

  async function drain(url: string): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (!r.Messages?.length) return bodies;
      bodies.push(...r.Messages.map((m) => m.Body ?? ''));
    }
  }

  const delivered = async (url: string): Promise<Delivered[]> => (await drain(url)).map((b) => JSON.parse(b) as Delivered);

  beforeAll(async () => {
    moto = await startMoto();
    events = new EventBridgeClient(moto.clientConfig);
    sqs = new SQSClient(moto.clientConfig);
    sns = new SNSClient(moto.clientConfig);
    await events.send(new CreateEventBusCommand({ Name: BUS }));
    const all = await queue('all-pgvigil');
    const promote = await queue('promotions');
    allQueue = all.url;
    promoteQueue = promote.url;
    await rule('pgvigil-all', { source: [EVENT_SOURCE] }, all.arn);
    await rule('pgvigil-promotions', { source: [EVENT_SOURCE], detail: { event: ['repmgrd_failover_promote'] } }, promote.arn);
    const topicSub = await queue('topic-subscriber');
    topicQueue = topicSub.url;
    topicArn = (await sns.send(new CreateTopicCommand({ Name: 'pgvigil-topic' }))).TopicArn ?? '';
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: topicSub.arn }));
  });
  afterAll(async () => {
    events?.destroy();
    sqs?.destroy();
    sns?.destroy();
    await moto?.stop();
  });

  it('publishes an event as source "pgvigil", detail-type "pgvigil event", with the event record as detail', async () => {
    await new EventBridgeNotifier(events, BUS).publish(event(1, { details: 'promoted; term 7' }));
    const [got, ...more] = await delivered(allQueue);
    expect(more).toEqual([]);
    expect(got?.source).toBe('pgvigil');
    expect(got?.['detail-type']).toBe(EVENT_DETAIL_TYPE);
    expect(got?.detail).toEqual({
      cluster_id: 'main',
      node_id: 2,
      event: 'standby_promote',
      successful: true,
      timestamp: T0 + 1000,
      details: 'promoted; term 7',
      term: 7,
    });
    expect(await drain(promoteQueue)).toEqual([]);
  });

  it('lets a rule match on a detail field: only the failover promotion reaches the promotions queue', async () => {
    const notifier = new EventBridgeNotifier(events, BUS);
    await notifier.publish(event(2, { event: 'failover_started' }));
    await notifier.publish(event(3, { event: 'repmgrd_failover_promote', node_id: 3 }));
    const promotions = await delivered(promoteQueue);
    expect(promotions.map((p) => [p.detail.event, p.detail.node_id])).toEqual([['repmgrd_failover_promote', 3]]);
    expect((await delivered(allQueue)).map((p) => p.detail.event)).toEqual(['failover_started', 'repmgrd_failover_promote']);
  });

  it('never lets a password out, even one quoted in an event\'s details', async () => {
    await new EventBridgeNotifier(events, BUS).publish(
      event(4, { event: 'repmgrd_upstream_disconnect', details: "could not connect: host=10.0.0.1 password='s3cr3t pw' user=repmgr; postgres://repmgr:hunter2@10.0.0.1/db" }),
    );
    const raw = (await drain(allQueue)).join('\n');
    expect(raw).toContain('password=********');
    expect(raw).toContain('postgres://repmgr:********@10.0.0.1/db');
    expect(raw).not.toMatch(/s3cr3t|hunter2/);
  });

  it('sends 23 events in chunks of 10 (moto, like AWS, refuses more per request) and all 23 arrive', async () => {
    const batch = Array.from({ length: 23 }, (_, i) => event(100 + i, { node_id: i + 1 }));
    await new EventBridgeNotifier(events, BUS).publishAll(batch);
    const got = await delivered(allQueue);
    expect(got.map((g) => g.detail.node_id).sort((a, b) => Number(a) - Number(b))).toEqual(batch.map((e) => e.node_id));
  });

  it('reports a bus that does not exist as an AWS error naming the bus and the event, and delivers nothing', async () => {
    const error = await new EventBridgeNotifier(events, 'no-such-bus').publish(event(5)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgvigilError);
    expect((error as PgvigilError).code).toBe('AWS');
    expect((error as PgvigilError).message).toBe('could not publish event standby_promote of cluster main to event bus no-such-bus');
    expect((error as PgvigilError).detail).toMatch(/^standby_promote \(node 2\): ResourceNotFoundException: /);
    expect(await drain(allQueue)).toEqual([]);
  });

  it('gets every recorded event to both the SNS topic and the bus when PGVIGIL_EVENT_BUS is set (the controller\'s wiring)', async () => {
    const table = 'pgvigil-state';
    await createStateTable(new DynamoDBClient(moto.clientConfig), table);
    const environment = readEnvironment({ PGVIGIL_TABLE: table, PGVIGIL_TOPIC_ARN: topicArn, PGVIGIL_EVENT_BUS: BUS });
    const deps = buildDeps(environment, { clientConfig: moto.clientConfig });
    await recordEvent(deps, DEFAULT_CLUSTER_SETTINGS, { cluster_id: 'main', node_id: 3, event: 'repmgrd_failover_promote', successful: true, details: 'node 3 promoted', term: 8, timestamp: T0 });
    const onBus = await delivered(promoteQueue);
    expect(onBus.map((d) => d.detail)).toEqual([
      { cluster_id: 'main', node_id: 3, event: 'repmgrd_failover_promote', successful: true, timestamp: T0, details: 'node 3 promoted', term: 8 },
    ]);
    await drain(allQueue);
    const onTopic = (await drain(topicQueue)).map((b) => JSON.parse((JSON.parse(b) as { Message: string }).Message) as EventRecord);
    expect(onTopic.map((e) => [e.event, e.node_id, e.term])).toEqual([['repmgrd_failover_promote', 3, 8]]);
    expect((await deps.store.listEvents('main', {})).map((e) => e.event)).toEqual(['repmgrd_failover_promote']);
  });

  it('publishes to the topic alone when PGVIGIL_EVENT_BUS is unset, and refuses a malformed bus name', async () => {
    const deps = buildDeps(readEnvironment({ PGVIGIL_TABLE: 'pgvigil-state', PGVIGIL_TOPIC_ARN: topicArn }), { clientConfig: moto.clientConfig });
    await recordEvent(deps, DEFAULT_CLUSTER_SETTINGS, { cluster_id: 'main', node_id: 1, event: 'agent_start', successful: true, details: 'started', term: 8, timestamp: T0 + 1 });
    expect((await drain(topicQueue)).length).toBe(1);
    expect(await drain(allQueue)).toEqual([]);
    expect(() => readEnvironment({ PGVIGIL_TABLE: 't', PGVIGIL_EVENT_BUS: 'bad bus;name' })).toThrow(/PGVIGIL_EVENT_BUS.*"bad bus;name" is not an EventBridge bus name or ARN/);
  });
});
