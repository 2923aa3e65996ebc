import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeNotifier, maskPasswords } from '../../adapters/eventbridge-notifier.js';
import { fanOutNotifier } from '../../adapters/fan-out-notifier.js';
import { PgvigilError } from '../../core/errors.js';
import type { EventRecord } from '../../core/model.js';
import type { Clock, Notifier } from '../../core/ports.js';

// moto accepts every well-formed entry; partial failures and throttling need a mocked client.

class FakeClock implements Clock {
  slept: number[] = [];
  now(): number {
    return 1_000_000;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
  }
}

const event = (n: number, overrides: Partial<EventRecord> = {}): EventRecord => ({
  cluster_id: 'main',
  node_id: n,
  event: 'failover_started',
  successful: true,
  timestamp: 1_760_000_000_000 + n,
  details: `event ${n}`,
  term: 3,
  ...overrides,
});

const nodeIdsOf = (input: PutEventsCommandInput): number[] =>
  (input.Entries ?? []).map((e) => (JSON.parse(e.Detail ?? '{}') as { node_id: number }).node_id);

describe('EventBridgeNotifier', () => {
  const mock = mockClient(EventBridgeClient);
  let clock: FakeClock;
  let notifier: EventBridgeNotifier;

  beforeEach(() => {
    mock.reset();
    clock = new FakeClock();
    notifier = new EventBridgeNotifier(new EventBridgeClient({ region: 'us-east-1' }), 'pg-bus', clock, { random: () => 1 });
  });

  it('sends the entries that were throttled again, and only those, until they pass', async () => {
    mock
      .on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }, { EventId: 'c' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' }],
      })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }, { EventId: 'd' }] });
    await notifier.publishAll([event(1), event(2), event(3), event(4)]);
    const calls = mock.commandCalls(PutEventsCommand).map((c) => nodeIdsOf(c.args[0].input));
    expect(calls).toEqual([[1, 2, 3, 4], [2, 4]]);
    expect(clock.slept).toHaveLength(1);
  });

  it('throws at once for an entry refused for good, naming the event and the error code, and sends nothing again', async () => {
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Detail is not valid' }] });
    const error = (await notifier.publish(event(2)).catch((e: unknown) => e)) as PgvigilError;
    expect(error).toBeInstanceOf(PgvigilError);
    expect(error.message).toBe('could not publish event failover_started of cluster main to event bus pg-bus');
    expect(error.detail).toBe('failover_started (node 2): InvalidArgument: Parameter Detail is not valid');
    expect(error.retryable).toBe(false);
    expect(mock.commandCalls(PutEventsCommand)).toHaveLength(1);
  });

  it('gives up on entries that stay throttled after the retries, reporting how many events of the batch failed', async () => {
    mock.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      const entries = nodeIdsOf(input).map((id) => (id === 12 ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' } : { EventId: 'x' }));
      return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
    });
    const batch = Array.from({ length: 15 }, (_, i) => event(i + 1));
    const error = (await notifier.publishAll(batch).catch((e: unknown) => e)) as PgvigilError;
    expect(error.message).toBe('could not publish 1 of 15 events to event bus pg-bus');
    expect(error.detail).toBe('failover_started (node 12): ThrottlingException: Rate exceeded');
    expect(error.retryable).toBe(true);
    const calls = mock.commandCalls(PutEventsCommand).map((c) => nodeIdsOf(c.args[0].input));
    // First chunk once; the second chunk, then its throttled entry again until six attempts are spent.
    expect(calls[0]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(calls[1]).toEqual([11, 12, 13, 14, 15]);
    expect(calls.slice(2)).toEqual(Array(5).fill([12]));
  });

  it('still sends the later chunks when one whole request fails, and names the failed events', async () => {
    const denied = Object.assign(new Error('not authorized to perform: events:PutEvents'), { name: 'AccessDeniedException' });
    mock.on(PutEventsCommand).rejectsOnce(denied).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'k' }] });
    const batch = Array.from({ length: 11 }, (_, i) => event(i + 1));
    const error = (await notifier.publishAll(batch).catch((e: unknown) => e)) as PgvigilError;
    expect(mock.commandCalls(PutEventsCommand)).toHaveLength(2);
    expect(error.message).toBe('could not publish 10 of 11 events to event bus pg-bus');
    expect(error.detail?.split('; ')[0]).toBe('failover_started (node 1): AccessDeniedException: not authorized to perform: events:PutEvents');
    expect(error.cause).toBe(denied);
  });

  it('puts the bus, source, detail type and event time on every entry', async () => {
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }] });
    await notifier.publish(event(1));
    const [entry] = mock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
    expect(entry).toMatchObject({ EventBusName: 'pg-bus', Source: 'pgvigil', DetailType: 'pgvigil event', Time: new Date(1_760_000_000_001) });
  });
});

describe('maskPasswords', () => {
  it.each([
    ['host=a password=secret user=b', 'host=a password=******** user=b'],
    ["password = 'two words' port=5432", 'password = ******** port=5432'],
    ['postgresql://u:p%40ss@h:5432/db', 'postgresql://u:********@h:5432/db'],
    ['no secrets here: passwordless login', 'no secrets here: passwordless login'],
  ])('masks %j as %j', (input, expected) => {
    expect(maskPasswords(input)).toBe(expected);
  });
});

describe('fanOutNotifier', () => {
  const recording = (seen: string[], name: string, fail?: Error): Notifier => ({
    publish: async (e) => {
      seen.push(`${name}:${e.event}`);
      if (fail) throw fail;
    },
  });

  it('hands each event to every destination, even when one of them fails, and rethrows that failure', async () => {
    const seen: string[] = [];
    const down = new PgvigilError('AWS', 'could not publish event failover_started of cluster main', { detail: 'ThrottlingException' });
    const error = await fanOutNotifier([recording(seen, 'sns', down), recording(seen, 'bus')])
      .publish(event(1))
      .catch((e: unknown) => e);
    expect(seen.sort()).toEqual(['bus:failover_started', 'sns:failover_started']);
    expect(error).toBe(down);
  });

  it('names every destination that failed when more than one did', async () => {
    const error = (await fanOutNotifier([recording([], 'a', new Error('topic gone')), recording([], 'b', new Error('bus gone'))])
      .publish(event(1))
      .catch((e: unknown) => e)) as PgvigilError;
    expect(error.message).toBe('could not publish event failover_started of cluster main to 2 of 2 destinations');
    expect(error.detail).toBe('topic gone; bus gone');
  });
});
