/**
 * Builds the controller's adapters ({@link buildDeps}; the CLI's in-process switchover and the
 * sandbox build theirs with it too) from the Lambda environment, once per cold start:
 * PGVIGIL_TABLE (required), PGVIGIL_TOPIC_ARN (optional: no topic, no notifications),
 * PGVIGIL_SSM_DOCUMENT_PREFIX (default `pgvigil`), PGVIGIL_EVENT_BUS (optional: an EventBridge bus
 * that gets every notified event too, next to the topic). The AWS SDK reads the region and any
 * `AWS_ENDPOINT_URL` (moto, LocalStack) from the environment itself.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { decide } from '../core/engine/index.js';
import { ConfigError } from '../core/errors.js';
import type { Clock, Notifier } from '../core/ports.js';
import { DynamoFlightRecorder } from '../adapters/dynamo-flight-recorder.js';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { Ec2InstanceFencer } from '../adapters/ec2-fencer.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';
import { EventBridgeNotifier } from '../adapters/eventbridge-notifier.js';
import { fanOutNotifier } from '../adapters/fan-out-notifier.js';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import { Route53RecordMover } from '../adapters/route53-vip.js';
import { SnsNotifier } from '../adapters/sns-notifier.js';
import { SsmHostCommands } from '../adapters/ssm-host-commands.js';
import { systemClock } from '../adapters/system-clock.js';
import { DEFAULT_TIMINGS, type ControllerDeps, type Invocation } from './controller.js';
import { jsonLogger, type Logger } from './log.js';

export interface ControllerEnvironment {
  table: string;
  topicArn: string | null;
  documentPrefix: string;
  /** PGVIGIL_EVENT_BUS: the EventBridge bus (name or ARN) events also go to; absent when unset. */
  eventBus?: string;
}

/** A bus name, or a bus ARN (PutEvents' `EventBusName` takes either). */
const EVENT_BUS = /^(arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus\/)?[/.\-_A-Za-z0-9]{1,256}$/;

export function readEnvironment(env: Record<string, string | undefined> = process.env): ControllerEnvironment {
  const table = env.PGVIGIL_TABLE?.trim();
  if (!table) {
    throw new ConfigError([{ file: '(environment)', line: undefined, key: 'PGVIGIL_TABLE', message: 'required: the name of the pgvigil state table' }]);
  }
  const prefix = env.PGVIGIL_SSM_DOCUMENT_PREFIX?.trim() || 'pgvigil';
  if (!/^[A-Za-z0-9_.-]{3,100}$/.test(prefix)) {
    throw new ConfigError([{ file: '(environment)', line: undefined, key: 'PGVIGIL_SSM_DOCUMENT_PREFIX', message: `"${prefix}" is not a valid SSM document name prefix` }]);
  }
  const bus = env.PGVIGIL_EVENT_BUS?.trim() || undefined;
  if (bus !== undefined && !EVENT_BUS.test(bus)) {
    throw new ConfigError([{ file: '(environment)', line: undefined, key: 'PGVIGIL_EVENT_BUS', message: `"${bus}" is not an EventBridge bus name or ARN` }]);
  }
  return { table, topicArn: env.PGVIGIL_TOPIC_ARN?.trim() || null, documentPrefix: prefix, ...(bus ? { eventBus: bus } : {}) };
}

const noNotifier: Notifier = { publish: async () => undefined };

/** The topic and the bus, whichever are configured: every notified event goes to each. */
function notifierFor(environment: ControllerEnvironment, config: Record<string, unknown>, clock: Clock, sns?: SNSClient): Notifier {
  const notifiers: Notifier[] = [];
  if (environment.topicArn) notifiers.push(new SnsNotifier(sns ?? new SNSClient(config), environment.topicArn, clock));
  if (environment.eventBus) notifiers.push(new EventBridgeNotifier(new EventBridgeClient(config), environment.eventBus, clock));
  return notifiers.length === 0 ? noNotifier : fanOutNotifier(notifiers);
}

export interface BuildDepsOptions {
  log?: Logger;
  /** SDK client settings (endpoint, region, credentials) — the sandbox points them at moto. */
  clientConfig?: Record<string, unknown>;
  /** Clients the caller owns (and destroys when it stops); the others are built on `clientConfig`. */
  clients?: { dynamodb?: DynamoDBClient; ec2?: EC2Client; sns?: SNSClient };
  /** The clock of the controller and of every adapter's retries and waits (tests move theirs forward). @default the system clock */
  clock?: Clock;
  /** Replace any adapter (the sandbox's SSM runner and instance fencer, for example). */
  overrides?: Partial<ControllerDeps>;
}

/**
 * The controller's adapters: the composition root of every process that runs the controller (the
 * Lambda functions through {@link fromEnvironment}, the CLI's in-process switchover, the sandbox).
 */
export function buildDeps(environment: ControllerEnvironment, options: BuildDepsOptions = {}): ControllerDeps {
  const config = options.clientConfig ?? {};
  const overrides = options.overrides ?? {};
  const clock = options.clock ?? systemClock;
  // Clients only for the adapters the caller does not replace (tests and the liveness model replace
  // every one that talks to AWS, and build many controllers).
  let dynamo = options.clients?.dynamodb;
  let ec2 = options.clients?.ec2;
  const dynamodb = (): DynamoDBClient => (dynamo ??= new DynamoDBClient(config));
  const ec2Client = (): EC2Client => (ec2 ??= new EC2Client(config));
  const unless = <K extends keyof ControllerDeps>(key: K, build: () => ControllerDeps[K]): ControllerDeps[K] =>
    key in overrides ? (overrides[key] as ControllerDeps[K]) : build();
  return {
    store: unless('store', () => new DynamoStateStore(dynamodb(), environment.table)),
    recorder: unless('recorder', () => new DynamoFlightRecorder(dynamodb(), environment.table)),
    hosts: unless('hosts', () => new SsmHostCommands(new SSMClient(config), { documentPrefix: environment.documentPrefix, clock })),
    vip: unless('vip', () => new Ec2VipMover(ec2Client())),
    route53: unless('route53', () => new Route53RecordMover(new Route53Client(config), ec2Client(), { clock })),
    fencer: unless('fencer', () => new Ec2InstanceFencer(ec2Client(), clock)),
    notifier: unless('notifier', () => notifierFor(environment, config, clock, options.clients?.sns)),
    metrics: unless('metrics', () => new EmfMetrics()),
    clock,
    log: options.log ?? jsonLogger({ service: 'pgvigil-controller' }),
    decide,
    timings: DEFAULT_TIMINGS,
    ...overrides,
  };
}

/** A Lambda handler on the controller's adapters. */
export type Handler<R> = (event: unknown, context?: Context) => Promise<R>;

/**
 * A Lambda entry point: the handler `make` builds on the adapters of the environment, built once per
 * container at its first invocation (an environment error fails that invocation, not the import).
 * The handler modules' only composition root; tests and the sandbox call `make` with their own.
 */
export function fromEnvironment<R>(make: (deps: ControllerDeps) => Handler<R>): Handler<R> {
  let built: Handler<R> | undefined;
  return async (event, context) => {
    built ??= make(buildDeps(readEnvironment()));
    return built(event, context);
  };
}

/** The invocation identity from Lambda's context (or a fresh one outside Lambda). */
export function invocationFrom(context: { awsRequestId?: string; getRemainingTimeInMillis?: () => number } | undefined): Invocation {
  const start = Date.now();
  return {
    owner: `${context?.awsRequestId ?? 'local'}:${randomUUID().slice(0, 8)}`,
    remainingMs: context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis!() : () => 14 * 60_000 - (Date.now() - start),
  };
}
