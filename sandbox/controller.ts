/**
 * The controller in the sandbox: the real evaluator handler (functions/handlers/evaluator.ts) on the
 * local Lambda runtime (sandbox/local-runtime.ts: the table's stream with the CDK filter patterns,
 * plus the sweep), on the deployed functions' adapters (functions/environment.ts) against moto, with
 * the sandbox's SSM runner (moto's SSM runs nothing) and metrics that reach the emulator's alarms.
 *
 * It runs as a process of its own (sandbox/controller-main.ts), like a Lambda function outside the
 * hosts: it can be stopped (SIGSTOP) or killed mid-invocation without touching the sandbox, and it
 * reaches AWS through its own route of the AWS proxy (`controller`). Its StopInstances is carried
 * out by the sandbox's instance watcher (sandbox/instance-watcher.ts), which kills every process
 * of a host whose emulated instance stops — as EC2 does.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import { PgvigilError } from '../core/errors.js';
import type { ControllerTimings } from '../functions/controller.js';
import { buildDeps } from '../functions/environment.js';
import { evaluatorHandler } from '../functions/handlers/evaluator.js';
import { LocalRuntime } from './local-runtime.js';
import { jsonLogger } from '../functions/log.js';
import type { CommandDocumentContent } from '../infra/ssm-documents.js';
import { EmfToCloudWatch } from './emf-extractor.js';
import { sandboxEntry } from './entry-points.js';
import { ROOT_HOST, SandboxNetwork, readNetworkState } from './netns.js';
import { SandboxHostCommands, type RunnerTarget } from './ssm-runner.js';
import { LATENCY_PROFILES, drawDelay, withLambdaLatency, type LatencyProfile } from './latency.js';
import { readHostsDown, type Supervisor } from './supervisor.js';

/** Saga pacing for one machine: short waits, fast polling (the production defaults are for AWS). */
export const SANDBOX_TIMINGS: ControllerTimings = {
  pollIntervalMs: 200,
  fenceWaitMs: 5000,
  demoteWaitMs: 30_000,
  stepRetryDelayMs: 500,
  maxStepAttempts: 3,
  ownerLeaseMs: 5000,
  safetyMarginMs: 2000,
  // A sandbox host boots in seconds (PostgreSQL, then the agent), even on a loaded machine.
  bootWaitMs: 90_000,
};

export interface SandboxControllerOptions {
  /** The sweep's period (the lease of a silent primary is judged on it). @default 1000 */
  sweepIntervalMs?: number;
  /** The stream's poll interval. @default the latency profile's (200 ms locally, 250 ms as Lambda's) */
  pollIntervalMs?: number;
  timings?: ControllerTimings;
}

/** Everything the controller process needs, written by the sandbox to `<dir>/controller.json`. */
export interface ControllerSpec {
  dir: string;
  /** SDK settings: the controller's own route to emulated AWS. */
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  tableName: string;
  streamArn: string;
  topicArn: string;
  documentPrefix: string;
  documents: Record<string, CommandDocumentContent>;
  /** Instance id → the host an SSM command to it runs on. */
  targets: Record<string, RunnerTarget>;
  timings: ControllerTimings;
  sweepIntervalMs: number;
  pollIntervalMs: number;
  /** Where timing matters, like AWS or like this machine (sandbox/latency.ts). Absent: `local`. */
  latency?: LatencyProfile;
}

export const CONTROLLER_PROCESS = 'controller';
const SPEC_FILE = 'controller.json';
const READY_FILE = 'controller.ready';


/** Runs the controller in this process (the controller process's body); returns how to stop it. */
export async function runController(spec: ControllerSpec): Promise<() => Promise<void>> {
  const dynamodb = new DynamoDBClient(spec.clientConfig);
  const streams = new DynamoDBStreamsClient(spec.clientConfig);
  const sns = new SNSClient(spec.clientConfig);
  const ec2 = new EC2Client(spec.clientConfig);
  const cloudwatch = new CloudWatchClient(spec.clientConfig);
  const log = jsonLogger({ service: 'pgvigil-controller' }, 'INFO', (line) => process.stdout.write(`${line}\n`));
  const latency = spec.latency ?? LATENCY_PROFILES.local;
  const hosts = new SandboxHostCommands({
    deliveryDelayMs: () => drawDelay(latency.ssmDelivery),
    statusDelayMs: () => drawDelay(latency.ssmStatus),
    network: SandboxNetwork.open(spec.dir),
    documents: spec.documents,
    prefix: spec.documentPrefix,
    dir: spec.dir,
    targets: (instanceId) => spec.targets[instanceId],
    // The sandbox process cuts hosts and stops them: read its files, not a copy made at start.
    isCut: (host) => readNetworkState(spec.dir)?.cut.includes(host) ?? false,
    isStopped: (host) => readHostsDown(spec.dir).includes(host),
  });
  const emf = new EmfToCloudWatch(cloudwatch, (error) => log.warn('metrics not sent', { error: error.message }));
  const deps = buildDeps(
    { table: spec.tableName, topicArn: spec.topicArn, documentPrefix: spec.documentPrefix },
    {
      clientConfig: spec.clientConfig,
      clients: { dynamodb, ec2, sns },
      log,
      overrides: {
        hosts,
        // The EMF lines CloudWatch would extract go to the emulator's metrics, where the alarms read them.
        metrics: new EmfMetrics((line) => emf.write(line)),
        timings: spec.timings,
      },
    },
  );
  const handler = evaluatorHandler(deps);
  const runtime = new LocalRuntime({
    streams,
    dynamodb,
    tableName: spec.tableName,
    streamArn: spec.streamArn,
    handler: withLambdaLatency((event: unknown) => handler(event), latency, {
      onColdStart: (ms) => log.info('cold start (latency profile)', { profile: latency.name, ms }),
    }),
    pollIntervalMs: spec.pollIntervalMs,
    sweepIntervalMs: spec.sweepIntervalMs,
    log: log.child({ component: 'local-runtime' }),
  });
  await runtime.start();
  writeFileSync(join(spec.dir, READY_FILE), String(process.pid));
  return async () => {
    await runtime.stop();
    await hosts.drain();
    await emf.drain();
    for (const client of [dynamodb, streams, sns, ec2, cloudwatch]) client.destroy();
  };
}

/** The pid of the controller process that is ready (its local runtime reads the stream), or null. */
export function readyController(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, READY_FILE), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** What starting the controller reads of the sandbox (sandbox/index.ts's `Sandbox`, which starts it). */
export interface ControllerHost {
  readonly dir: string;
  readonly controlPlaneConfig: ControllerSpec['clientConfig'];
  readonly deployment: { tableName: string; tableStreamArn: string; topicArn: string; documentPrefix: string };
  readonly documents: Record<string, CommandDocumentContent>;
  readonly instances: Record<string, string>;
  readonly supervisor: Supervisor;
  readonly latency: LatencyProfile;
  runnerTarget(name: string): RunnerTarget;
}

/**
 * Starts the controller process under the sandbox's supervisor (restarted when it dies, as Lambda
 * runs the next invocation in a new one) and waits until it reads the stream. Returns how to stop it.
 */
export async function startSandboxController(sandbox: ControllerHost, options: SandboxControllerOptions = {}): Promise<() => Promise<void>> {
  const spec: ControllerSpec = {
    dir: sandbox.dir,
    clientConfig: sandbox.controlPlaneConfig,
    tableName: sandbox.deployment.tableName,
    streamArn: sandbox.deployment.tableStreamArn,
    topicArn: sandbox.deployment.topicArn,
    documentPrefix: sandbox.deployment.documentPrefix,
    documents: sandbox.documents,
    targets: Object.fromEntries(Object.entries(sandbox.instances).map(([name, instanceId]) => [instanceId, sandbox.runnerTarget(name)])),
    timings: options.timings ?? SANDBOX_TIMINGS,
    sweepIntervalMs: options.sweepIntervalMs ?? 1000,
    pollIntervalMs: options.pollIntervalMs ?? sandbox.latency.streamPollMs,
    latency: sandbox.latency,
  };
  const specFile = join(sandbox.dir, SPEC_FILE);
  writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
  rmSync(join(sandbox.dir, READY_FILE), { force: true });
  const entry = sandboxEntry('controller-main', [specFile]);
  const status = sandbox.supervisor.start({ host: ROOT_HOST, name: CONTROLLER_PROCESS, command: entry.command, args: entry.args, env: process.env, restart: true });
  const deadline = Date.now() + 90_000;
  for (;;) {
    const pid = sandbox.supervisor.pid(ROOT_HOST, CONTROLLER_PROCESS);
    if (pid !== null && readyController(sandbox.dir) === pid) break;
    if (Date.now() > deadline) {
      throw new PgvigilError('SYS_FAILURE', 'the controller process did not start within 90 s', { detail: `see ${status.log}` });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return async () => {
    await sandbox.supervisor.stop(ROOT_HOST, CONTROLLER_PROCESS, 15_000);
    rmSync(join(sandbox.dir, READY_FILE), { force: true });
  };
}
