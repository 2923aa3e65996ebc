/**
 * The switchover function in the sandbox: the real handler (functions/handlers/switchover.ts, the
 * entry point the SSM Automation document invokes) served on 127.0.0.1 with Lambda's Invoke wire
 * protocol (`POST /2015-03-31/functions/NAME/invocations`), with the sandbox's SSM runner, fencer,
 * Elastic IP mover and state store. `pgvigil standby switchover` in another shell then takes its
 * ordinary Lambda path: `PGVIGIL_SWITCHOVER_FUNCTION=NAME AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:PORT`
 * (printed by `sandbox up`). Only the deployed switchover function is served; anything else is a
 * 404 `ResourceNotFoundException`, as from Lambda. Requests are not authenticated: the endpoint
 * listens on loopback only, like the rest of the sandbox's emulated AWS.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';
import { SnsNotifier } from '../adapters/sns-notifier.js';
import { systemClock } from '../adapters/system-clock.js';
import { decide } from '../core/engine/index.js';
import type { HostCommands, InstanceFencer, Metrics } from '../core/ports.js';
import { handler, setControllerDeps } from '../functions/handlers/switchover.js';
import { jsonLogger } from '../functions/log.js';
import { SANDBOX_TIMINGS, type ControllerHost } from './controller.js';
import { freePort } from './ports.js';

export interface SwitchoverEndpoint {
  /** `http://127.0.0.1:PORT`: the value for AWS_ENDPOINT_URL_LAMBDA. */
  url: string;
  /** The value for PGVIGIL_SWITCHOVER_FUNCTION. */
  functionName: string;
  stop(): Promise<void>;
}

const noMetrics: Metrics = { put: () => undefined, flush: () => undefined };

/** Lambda's invoke timeout for the switchover function (the CDK stack gives it 15 minutes). */
const FUNCTION_TIMEOUT_MS = 15 * 60_000;

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** True when `requested` (name, partial or full ARN, optionally with a qualifier) names `functionName`. */
export function namesFunction(requested: string, functionName: string): boolean {
  const parts = requested.split(':');
  if (parts.length === 1) return requested === functionName;
  const at = parts.indexOf('function');
  const name = at >= 0 ? parts[at + 1] : parts[0];
  const qualifier = at >= 0 ? parts[at + 2] : parts[1];
  return name === functionName && (qualifier === undefined || qualifier === '$LATEST');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function lambdaError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ Type: 'User', message }));
}

/** What the switchover function reads of the sandbox (sandbox/index.ts's `Sandbox`, which serves it). */
export interface SwitchoverHost extends Pick<ControllerHost, 'controlPlaneConfig' | 'supervisor'> {
  readonly deployment: { switchoverFunctionName: string; tableName: string; topicArn: string };
  readonly hostCommands: HostCommands;
  readonly fencer: InstanceFencer;
}

/** Serves the switchover function on a free port of 127.0.0.1 (or `port`) until `stop()`. */
export async function serveSwitchoverFunction(sandbox: SwitchoverHost, options: { port?: number } = {}): Promise<SwitchoverEndpoint> {
  const functionName = sandbox.deployment.switchoverFunctionName;
  // The control plane's own route to AWS (the AWS proxy's `controller`), like the evaluator's.
  const dynamodb = new DynamoDBClient(sandbox.controlPlaneConfig);
  const sns = new SNSClient(sandbox.controlPlaneConfig);
  const ec2 = new EC2Client(sandbox.controlPlaneConfig);
  const logFile = createWriteStream(join(sandbox.supervisor.logDir, 'root.switchover.log'), { flags: 'a' });
  const log = jsonLogger({ service: 'pgvigil-switchover' }, 'INFO', (line) => logFile.write(`${line}\n`));
  setControllerDeps({
    store: new DynamoStateStore(dynamodb, sandbox.deployment.tableName),
    hosts: sandbox.hostCommands,
    vip: new Ec2VipMover(ec2),
    fencer: sandbox.fencer,
    notifier: new SnsNotifier(sns, sandbox.deployment.topicArn),
    metrics: noMetrics,
    clock: systemClock,
    log,
    decide,
    timings: SANDBOX_TIMINGS,
  });

  const invoke = async (payload: string): Promise<{ body: string; error: boolean }> => {
    const started = Date.now();
    const context = { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => FUNCTION_TIMEOUT_MS - (Date.now() - started) };
    try {
      const event: unknown = payload.trim() === '' ? {} : JSON.parse(payload);
      // The handler only reads the request id and the remaining time from Lambda's context.
      const result = await handler(event, context as unknown as Parameters<typeof handler>[1]);
      return { body: JSON.stringify(result), error: false };
    } catch (error) {
      const e = error as Error;
      log.error('switchover invocation failed', { error: e.message });
      return { body: JSON.stringify({ errorType: e.name || 'Error', errorMessage: e.message, trace: [] }), error: true };
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://lambda');
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== 'POST' || !match) return lambdaError(res, 404, 'UnknownOperationException', `the sandbox serves only Invoke of ${functionName}`);
    const requested = decodeURIComponent(match[1] ?? '');
    const qualified = url.searchParams.get('Qualifier');
    if (!namesFunction(requested, functionName) || (qualified !== null && qualified !== '$LATEST')) {
      return lambdaError(res, 404, 'ResourceNotFoundException', `Function not found: ${requested}${qualified ? `:${qualified}` : ''} (the sandbox serves ${functionName})`);
    }
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    void readBody(req).then(async (payload) => {
      if (type === 'DryRun') {
        res.writeHead(204);
        return res.end();
      }
      if (type === 'Event') {
        res.writeHead(202);
        res.end();
        await invoke(payload);
        return;
      }
      if (type !== 'RequestResponse') return lambdaError(res, 400, 'InvalidParameterValueException', `unknown invocation type ${type}`);
      const { body, error } = await invoke(payload);
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST', ...(error ? { 'x-amz-function-error': 'Unhandled' } : {}) });
      res.end(body);
    });
  });
  // A switchover answers when it is done: no server-side timeouts on the request.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const port = options.port ?? (await freePort('127.0.0.1'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    functionName,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          setControllerDeps(undefined);
          dynamodb.destroy();
          sns.destroy();
          ec2.destroy();
          logFile.end(() => resolve());
        });
        server.closeAllConnections();
      }),
  };
}
