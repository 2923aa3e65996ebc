/**
 * The sandbox's latency profiles (docs/sandbox.md, "Latency profiles"): `local` is the machine as
 * it is (no latency added), `aws` adds the latencies AWS itself has where they matter to a
 * failover — each AWS API's request latency (the AWS proxy), SSM Run Command's delivery to the
 * host and the lag before GetCommandInvocation shows the result (the SSM runner), the Elastic IP
 * re-association until traffic reaches the new instance (the VIP proxy), DynamoDB Streams → Lambda
 * delivery and an occasional cold start (the local Lambda runtime). Every figure and its source is
 * in docs/sandbox.md.
 */
import { PgvigilError } from '../core/errors.js';

/** A delay: `ms` plus up to `jitterMs` more, drawn uniformly. */
export interface Delay {
  ms: number;
  jitterMs: number;
}

export interface LatencyProfile {
  name: LatencyProfileName;
  /** Request latency per AWS service (the SigV4 scope: `dynamodb`, `ec2`, `ssm`, …), added by the AWS proxy. */
  services: Record<string, Delay>;
  /** SSM Run Command: SendCommand → the script starts on the host. */
  ssmDelivery: Delay;
  /** SSM Run Command: the script ended → GetCommandInvocation shows its status. */
  ssmStatus: Delay;
  /** AssociateAddress answered → traffic to the Elastic IP reaches the new instance. */
  vipFollow: Delay;
  /** How often the local Lambda runtime polls the stream (Lambda's event source mapping: 4 times a second). */
  streamPollMs: number;
  /** A stream record read → Lambda invoked with it (on top of the poll interval). */
  streamDelivery: Delay;
  /** Share of invocations that start cold (0-1), and what a cold start adds. */
  coldStart: { rate: number } & Delay;
}

export const LATENCY_PROFILE_NAMES = ['local', 'aws'] as const;
export type LatencyProfileName = (typeof LATENCY_PROFILE_NAMES)[number];

const none: Delay = { ms: 0, jitterMs: 0 };

export const LATENCY_PROFILES: Record<LatencyProfileName, LatencyProfile> = {
  local: { name: 'local', services: {}, ssmDelivery: none, ssmStatus: none, vipFollow: none, streamPollMs: 200, streamDelivery: none, coldStart: { rate: 0, ...none } },
  aws: {
    name: 'aws',
    services: {
      dynamodb: { ms: 5, jitterMs: 5 },
      'streams.dynamodb': { ms: 10, jitterMs: 10 },
      ec2: { ms: 100, jitterMs: 100 },
      ssm: { ms: 30, jitterMs: 30 },
      sns: { ms: 20, jitterMs: 20 },
    },
    ssmDelivery: { ms: 500, jitterMs: 1000 },
    ssmStatus: { ms: 200, jitterMs: 300 },
    vipFollow: { ms: 1500, jitterMs: 1500 },
    streamPollMs: 250,
    streamDelivery: { ms: 200, jitterMs: 300 },
    coldStart: { rate: 0.05, ms: 400, jitterMs: 400 },
  },
};

/** The profile named `value` (`--latency`, `where` names the option); a clear error for anything else. */
export function parseLatencyProfile(value: string | undefined, where = '--latency'): LatencyProfile {
  if (value === undefined || value === '') throw new PgvigilError('BAD_ARGUMENT', `${where} needs a profile name (${LATENCY_PROFILE_NAMES.join(' or ')})`);
  const profile = (LATENCY_PROFILES as Record<string, LatencyProfile | undefined>)[value];
  if (!profile || !Object.hasOwn(LATENCY_PROFILES, value)) {
    throw new PgvigilError('BAD_ARGUMENT', `${where}: unknown latency profile "${value}"`, { hint: `choose ${LATENCY_PROFILE_NAMES.join(' or ')}` });
  }
  return profile;
}

/**
 * Takes `--latency NAME` out of a benchmark's arguments (anywhere among them): the profile
 * (`local` when absent) and the other arguments in their order. A bad name throws.
 */
export function latencyFlag(args: readonly string[]): { latency: LatencyProfile; rest: string[] } {
  const rest: string[] = [];
  let name = 'local';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--latency') name = args[++i] ?? '';
    else if (arg.startsWith('--latency=')) name = arg.slice('--latency='.length);
    else rest.push(arg);
  }
  return { latency: parseLatencyProfile(name, '--latency'), rest };
}

/** One draw of a delay (`random` in [0, 1)). */
export function drawDelay(delay: Delay, random: () => number = Math.random): number {
  return delay.ms + Math.floor(random() * delay.jitterMs);
}

/** Waits a drawn delay (nothing when it is zero). */
export function sleepDelay(delay: Delay, random: () => number = Math.random): Promise<void> {
  const ms = drawDelay(delay, random);
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Checks a service → delay map (the AWS proxy's `--service-latency`); throws naming every problem. */
export function parseServiceLatency(value: unknown): Record<string, Delay> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PgvigilError('BAD_INPUT', 'expected an object of service → { ms, jitterMs }');
  const problems: string[] = [];
  const out: Record<string, Delay> = {};
  for (const [service, delay] of Object.entries(value as Record<string, unknown>)) {
    const d = delay as Partial<Delay> | null;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 600_000;
    if (typeof d !== 'object' || d === null || !ok(d.ms) || !ok(d.jitterMs) || Object.keys(d).some((k) => k !== 'ms' && k !== 'jitterMs')) {
      problems.push(`${service}: expected { "ms": N, "jitterMs": N } with integers in 0..600000, got ${JSON.stringify(delay)}`);
    } else out[service] = { ms: d.ms, jitterMs: d.jitterMs };
  }
  if (problems.length > 0) throw new PgvigilError('BAD_INPUT', problems.join('; '));
  return out;
}

/** True for a DynamoDB stream batch (Lambda's DynamoDBStreamEvent), false for the scheduled sweep. */
function isStreamBatch(event: unknown): boolean {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);
}

/**
 * A Lambda handler as the profile's Lambda runs it: a stream batch reaches it `streamDelivery`
 * after it was read, and an invocation starts cold now and then (`coldStart.rate`), which adds
 * `coldStart` before the handler runs. `onColdStart` hears each (the controller logs it).
 */
export function withLambdaLatency<E, R>(
  handler: (event: E) => Promise<R>,
  profile: Pick<LatencyProfile, 'streamDelivery' | 'coldStart'>,
  options: { random?: () => number; onColdStart?: (ms: number) => void } = {},
): (event: E) => Promise<R> {
  const random = options.random ?? Math.random;
  return async (event) => {
    if (isStreamBatch(event)) await sleepDelay(profile.streamDelivery, random);
    if (profile.coldStart.rate > 0 && random() < profile.coldStart.rate) {
      const ms = drawDelay(profile.coldStart, random);
      options.onColdStart?.(ms);
      await new Promise((r) => setTimeout(r, ms));
    }
    return handler(event);
  };
}
