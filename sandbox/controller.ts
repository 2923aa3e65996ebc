/**
 * The controller in the sandbox: the real evaluator handler (functions/handlers/evaluator.ts) on the
 * local Lambda runtime (functions/local-runtime.ts: the table's stream with the CDK filter patterns,
 * plus the sweep), built with the real DynamoDB store and EC2 Elastic IP mover against moto, and
 * the sandbox's SSM runner and instance fencer (moto's SSM runs nothing; its StopInstances stops
 * no process).
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';
import { SnsNotifier } from '../adapters/sns-notifier.js';
import { systemClock } from '../adapters/system-clock.js';
import { decide } from '../core/engine/index.js';
import type { Metrics } from '../core/ports.js';
import type { ControllerTimings } from '../functions/controller.js';
import { handler, setControllerDeps } from '../functions/handlers/evaluator.js';
import { LocalRuntime } from '../functions/local-runtime.js';
import { jsonLogger } from '../functions/log.js';
import type { Sandbox } from './index.js';

/** Saga pacing for one machine: short waits, fast polling (the production defaults are for AWS). */
export const SANDBOX_TIMINGS: ControllerTimings = {
  pollIntervalMs: 200,
  fenceWaitMs: 5000,
  demoteWaitMs: 30_000,
  stepRetryDelayMs: 500,
  maxStepAttempts: 3,
  ownerLeaseMs: 5000,
  safetyMarginMs: 2000,
};

export interface SandboxControllerOptions {
  /** The sweep's period (the lease of a silent primary is judged on it). @default 1000 */
  sweepIntervalMs?: number;
  /** @default 200 */
  pollIntervalMs?: number;
  timings?: ControllerTimings;
  /**
   * The kill-controller-mid-saga drill: once this returns true, every call the controller makes to
   * its ports (store, SSM, Elastic IP, fencer, notifier) never answers, so the invocation in flight
   * stops where it is, like a Lambda whose process died; stopping such a controller does not wait
   * for it.
   */
  frozen?: () => boolean;
}

const never = new Promise<never>(() => undefined);

/** Wraps a port so that, once `frozen()` is true, no call of it answers (before or after the real call). */
export function freezable<T extends object>(port: T, frozen: () => boolean): T {
  return new Proxy(port, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (frozen()) return never;
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then((r) => (frozen() ? never : r));
      };
    },
  });
}

/** Metrics stay local: EMF lines would only clutter the sandbox's output. */
const noMetrics: Metrics = { put: () => undefined, flush: () => undefined };

export async function startSandboxController(sandbox: Sandbox, options: SandboxControllerOptions = {}): Promise<() => Promise<void>> {
  const config = sandbox.clientConfig;
  const dynamodb = new DynamoDBClient(config);
  const streams = new DynamoDBStreamsClient(config);
  const sns = new SNSClient(config);
  const logFile = createWriteStream(join(sandbox.supervisor.logDir, 'root.controller.log'), { flags: 'a' });
  const log = jsonLogger({ service: 'pgvigil-controller' }, 'INFO', (line) => logFile.write(`${line}\n`));
  const frozen = options.frozen ?? (() => false);
  const port = <T extends object>(p: T): T => (options.frozen ? freezable(p, frozen) : p);
  setControllerDeps({
    store: port(new DynamoStateStore(dynamodb, sandbox.deployment.tableName)),
    hosts: port(sandbox.hostCommands),
    vip: port(new Ec2VipMover(sandbox.ec2)),
    fencer: port(sandbox.fencer),
    notifier: port(new SnsNotifier(sns, sandbox.deployment.topicArn)),
    metrics: noMetrics,
    clock: systemClock,
    log,
    decide,
    timings: options.timings ?? SANDBOX_TIMINGS,
  });
  const runtime = new LocalRuntime({
    streams,
    dynamodb,
    tableName: sandbox.deployment.tableName,
    streamArn: sandbox.deployment.tableStreamArn,
    handler: (event) => handler(event),
    pollIntervalMs: options.pollIntervalMs ?? 200,
    sweepIntervalMs: options.sweepIntervalMs ?? 1000,
    log: log.child({ component: 'local-runtime' }),
  });
  await runtime.start();
  return async () => {
    if (frozen()) void runtime.stop(); // its invocation in flight never ends: do not wait for it
    else await runtime.stop();
    setControllerDeps(undefined);
    dynamodb.destroy();
    streams.destroy();
    sns.destroy();
    await new Promise<void>((resolve) => logFile.end(() => resolve()));
  };
}
