/**
 * The host-event rules' patterns, as synthesized, put to EventBridge in the emulator: each becomes a
 * rule on the default bus with a queue as its target, AWS's sample events are put on the bus, and
 * what the queue receives is what the function would be invoked with.
 */
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand, PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostEvent } from '../../core/host-events.js';
import { PgvigilControlPlaneStack } from '../../infra/control-plane-stack.js';
import { DELIVERED, hostEvent, LEFT_OUT, type HostEventFixture } from '../support/host-events.js';
import { startMoto, type Moto } from '../support/moto.js';
import { logicalIdOf, testApps } from './helpers.js';

const apps = testApps();
let moto: Moto;
let bridge: EventBridgeClient;
let sqs: SQSClient;
let queueUrl: string;
let patterns: unknown[];

beforeAll(async () => {
  const stack = new PgvigilControlPlaneStack(apps.app(), 'cp', { controlPlane: { clusters: [{ clusterId: 'main' }] } });
  const template = Template.fromStack(stack);
  const fn = logicalIdOf(template, 'AWS::Lambda::Function', 'ControlPlaneHostEvents');
  patterns = Object.values(template.findResources('AWS::Events::Rule'))
    .filter((r) => JSON.stringify(r.Properties.Targets).includes(`"${fn}"`))
    .map((r) => r.Properties.EventPattern as unknown);
  moto = await startMoto();
  bridge = new EventBridgeClient(moto.clientConfig);
  sqs = new SQSClient(moto.clientConfig);
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'host-events' }))).QueueUrl ?? '';
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  for (const [i, pattern] of patterns.entries()) {
    await bridge.send(new PutRuleCommand({ Name: `host-events-${i}`, EventPattern: JSON.stringify(pattern), State: 'ENABLED' }));
    await bridge.send(new PutTargetsCommand({ Rule: `host-events-${i}`, Targets: [{ Id: 'queue', Arn: queueArn }] }));
  }
});

afterAll(async () => {
  bridge?.destroy();
  sqs?.destroy();
  await moto?.stop();
  apps.cleanup();
});

/** Puts the sample on the bus as AWS would and returns what the rules delivered. */
async function put(name: HostEventFixture): Promise<Record<string, unknown>[]> {
  await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  const e = hostEvent(name);
  const r = await bridge.send(
    new PutEventsCommand({
      Entries: [{ Source: String(e.source), DetailType: String(e['detail-type']), Detail: JSON.stringify(e.detail), Resources: e.resources as string[], Time: new Date(String(e.time)) }],
    }),
  );
  expect(r.FailedEntryCount).toBe(0);
  const delivered: Record<string, unknown>[] = [];
  for (let i = 0; i < 5; i++) {
    const m = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    delivered.push(...(m.Messages ?? []).map((x) => JSON.parse(x.Body ?? '{}') as Record<string, unknown>));
    if (delivered.length > 0) break;
  }
  return delivered;
}

describe('the host-event rules', () => {
  it('are two: AWS Health scheduled changes of EC2, and the Spot warnings', () => {
    expect(patterns).toHaveLength(2);
  });

  it.each(DELIVERED)('deliver %s once, as an event the function reads', async (name) => {
    const delivered = await put(name);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ source: hostEvent(name).source, 'detail-type': hostEvent(name)['detail-type'], detail: hostEvent(name).detail });
    expect(parseHostEvent(delivered[0]).instance_ids).toEqual(['i-0123456789abcdef0']);
  });

  it.each(LEFT_OUT)('leave out %s', async (name) => {
    expect(await put(name)).toEqual([]);
  });
});
