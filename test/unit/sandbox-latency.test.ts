import { describe, expect, it } from 'vitest';
import { PgvigilError } from '../../core/errors.js';
import { LATENCY_PROFILES, drawDelay, latencyFlag, parseLatencyProfile, parseServiceLatency, withLambdaLatency } from '../../sandbox/latency.js';

/** A `random` that returns the given values in turn (then the last one for ever). */
const sequence = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] as number;
};

describe('latency profiles', () => {
  it('adds nothing anywhere in the local profile', () => {
    const local = LATENCY_PROFILES.local;
    expect(local.services).toEqual({});
    for (const delay of [local.ssmDelivery, local.ssmStatus, local.vipFollow, local.streamDelivery]) expect(drawDelay(delay, () => 0.99)).toBe(0);
    expect(local.coldStart.rate).toBe(0);
  });

  it('gives the aws profile a latency for every AWS service the control plane and the agents call', () => {
    expect(Object.keys(LATENCY_PROFILES.aws.services).sort()).toEqual(['dynamodb', 'ec2', 'sns', 'ssm', 'streams.dynamodb']);
    expect(LATENCY_PROFILES.aws.streamPollMs).toBe(250); // Lambda polls a DynamoDB stream's shards 4 times a second
  });

  it('finds a profile by name and names the choices when the name is unknown or missing', () => {
    expect(parseLatencyProfile('aws').name).toBe('aws');
    expect(() => parseLatencyProfile('fast')).toThrow(/--latency: unknown latency profile "fast"/);
    expect(() => parseLatencyProfile('toString')).toThrow(PgvigilError);
    expect(() => parseLatencyProfile(undefined)).toThrow(/needs a profile name \(local or aws\)/);
  });

  it('takes --latency out of a benchmark’s arguments wherever it stands, local when absent', () => {
    expect(latencyFlag(['3', '--latency', 'aws', 'crash-primary'])).toEqual({ latency: LATENCY_PROFILES.aws, rest: ['3', 'crash-primary'] });
    expect(latencyFlag(['--latency=aws']).latency.name).toBe('aws');
    expect(latencyFlag(['2', 'switchover'])).toEqual({ latency: LATENCY_PROFILES.local, rest: ['2', 'switchover'] });
    expect(() => latencyFlag(['2', '--latency'])).toThrow(/needs a profile name/);
  });
});

describe('drawDelay', () => {
  it('draws the base plus a uniform share of the jitter', () => {
    expect(drawDelay({ ms: 100, jitterMs: 50 }, () => 0)).toBe(100);
    expect(drawDelay({ ms: 100, jitterMs: 50 }, () => 0.5)).toBe(125);
    expect(drawDelay({ ms: 100, jitterMs: 50 }, () => 0.999)).toBe(149);
  });
});

describe('parseServiceLatency', () => {
  it('accepts a service → { ms, jitterMs } map', () => {
    expect(parseServiceLatency({ ec2: { ms: 100, jitterMs: 20 } })).toEqual({ ec2: { ms: 100, jitterMs: 20 } });
  });

  it('names every bad entry at once', () => {
    let caught: unknown;
    try {
      parseServiceLatency({ ec2: { ms: -1, jitterMs: 0 }, ssm: { ms: 5 }, sns: { ms: 1, jitterMs: 1, extra: 2 }, dynamodb: { ms: 1, jitterMs: 1 } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PgvigilError);
    const message = (caught as Error).message;
    expect(message).toMatch(/ec2: expected/);
    expect(message).toMatch(/ssm: expected/);
    expect(message).toMatch(/sns: expected/);
    expect(message).not.toMatch(/dynamodb/);
  });

  it('refuses anything but an object', () => {
    for (const value of [null, [], 'x', 3]) expect(() => parseServiceLatency(value)).toThrow(/expected an object/);
  });
});

describe('withLambdaLatency', () => {
  const profile = { streamDelivery: { ms: 30, jitterMs: 0 }, coldStart: { rate: 0.5, ms: 40, jitterMs: 0 } };

  it('delays a stream batch by the delivery delay and a cold invocation by the cold start', async () => {
    const cold: number[] = [];
    // First draw: the delivery's jitter; second: below the cold-start rate; third: the cold start's jitter.
    const handler = withLambdaLatency(async (event: { Records: unknown[] }) => event.Records.length, profile, { random: sequence(0, 0.1, 0), onColdStart: (ms) => cold.push(ms) });
    const started = performance.now();
    expect(await handler({ Records: [1, 2] })).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(60); // 30 + 40, less timer rounding
    expect(cold).toEqual([40]);
  });

  it('runs a warm scheduled sweep at once, with no delivery delay', async () => {
    const cold: number[] = [];
    // A delivery delay longer than the test's timeout: the sweep must not wait for it.
    const slowStream = { ...profile, streamDelivery: { ms: 600_000, jitterMs: 0 } };
    const handler = withLambdaLatency(async () => 'swept', slowStream, { random: () => 0.9, onColdStart: (ms) => cold.push(ms) });
    expect(await handler({ source: 'aws.events' })).toBe('swept');
    expect(cold).toEqual([]);
  });
});
