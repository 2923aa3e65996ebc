/**
 * The sandbox's route to emulated AWS, with faults on demand (docs/sandbox.md, "The AWS proxy").
 * One HTTP listener per route — every host (node1 … witness) and the controller — forwards to
 * moto; each host's AWS_ENDPOINT_URL names its own listener, so a fault can be put on one host's
 * way to AWS (its agent and the SSM commands run on it) or on the controller's, or on all.
 *
 * Faults per route, drawn per request:
 * - `latencyMs` (+ up to `jitterMs`): the request waits before it is forwarded;
 * - `errorRate`: answered with a 5xx in the service's own error shape (DynamoDB's
 *   `InternalServerError`, EC2's `InternalError`, …), not forwarded;
 * - `throttleRate`: answered with the service's throttling error (DynamoDB:
 *   `ProvisionedThroughputExceededException` or `ThrottlingException`, HTTP 400, JSON 1.0; SSM:
 *   `ThrottlingException`; EC2: `RequestLimitExceeded` 503; SNS: `Throttling`), not forwarded —
 *   the shapes the SDK's error parsers and retry strategies recognise;
 * - `blackhole`: the request is held and never answered; connections held are reset when the
 *   blackhole ends (as after a partition whose TCP sessions timed out).
 *
 * Beside the faults, a latency per AWS service that every route has all the time: the `aws` latency
 * profile's request latencies (sandbox/latency.ts, docs/sandbox.md "Latency profiles").
 *
 * It also tells when EC2 changed something the sandbox acts on — an Elastic IP association or an
 * instance's state — as soon as AWS answered the request (`GET /changes`), so the VIP proxy and the
 * instance watcher follow the controller's own moves at once instead of polling the emulator.
 *
 * It runs as a process of its own (sandbox/aws-proxy-main.ts) so that the load of the process that
 * runs the checkers never shows up as control-plane latency. Its faults are set over a small HTTP
 * API on a Unix socket in the sandbox directory ({@link AwsProxyControl}).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PgvigilError } from '../core/errors.js';
import { drawDelay, type Delay } from './latency.js';

/** The faults of one route; an empty object is a healthy route. */
export interface RouteFaults {
  /** Added to every request before it is forwarded. */
  latencyMs?: number;
  /** Up to this much more, uniformly. */
  jitterMs?: number;
  /** Share of requests answered with a 5xx (0-1). */
  errorRate?: number;
  /** Share of requests answered with a throttling error (0-1). */
  throttleRate?: number;
  /** Hold every request unanswered. */
  blackhole?: boolean;
}

export interface RouteCounters {
  requests: number;
  forwarded: number;
  delayed: number;
  errors: number;
  throttled: number;
  blackholed: number;
}

export interface RouteStatus {
  port: number;
  faults: RouteFaults;
  counters: RouteCounters;
  /** Requests forwarded, by `service:Operation` (what the route's caller asks AWS, and how often). */
  operations: Record<string, number>;
}

const FAULT_KEYS = ['latencyMs', 'jitterMs', 'errorRate', 'throttleRate', 'blackhole'] as const;

/** Checks a fault object from the control API: every problem at once, with the key. */
export function parseRouteFaults(value: unknown, where: string): RouteFaults {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PgvigilError('BAD_INPUT', `${where}: expected an object of faults`);
  }
  const problems: string[] = [];
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!(FAULT_KEYS as readonly string[]).includes(key)) problems.push(`unknown key "${key}" (known: ${FAULT_KEYS.join(', ')})`);
  const faults: RouteFaults = {};
  for (const key of ['latencyMs', 'jitterMs'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 600_000) problems.push(`${key} must be an integer number of milliseconds in 0..600000, got ${JSON.stringify(v)}`);
    else faults[key] = v;
  }
  for (const key of ['errorRate', 'throttleRate'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) problems.push(`${key} must be a number in 0..1, got ${JSON.stringify(v)}`);
    else faults[key] = v;
  }
  if (raw.blackhole !== undefined) {
    if (typeof raw.blackhole !== 'boolean') problems.push(`blackhole must be true or false, got ${JSON.stringify(raw.blackhole)}`);
    else faults.blackhole = raw.blackhole;
  }
  if ((faults.errorRate ?? 0) + (faults.throttleRate ?? 0) > 1) problems.push('errorRate + throttleRate must not exceed 1');
  if (problems.length > 0) throw new PgvigilError('BAD_INPUT', `${where}: ${problems.join('; ')}`);
  return faults;
}

/** The AWS service a request is for, from its SigV4 credential scope (`…/us-east-1/dynamodb/aws4_request`). */
export function serviceOf(headers: IncomingMessage['headers']): string {
  const auth = String(headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  if (scope?.[1]) return scope[1];
  const target = String(headers['x-amz-target'] ?? '');
  if (target.startsWith('DynamoDBStreams_')) return 'streams.dynamodb';
  if (target.startsWith('DynamoDB_')) return 'dynamodb';
  if (target.startsWith('AmazonSSM.')) return 'ssm';
  return 'unknown';
}

/**
 * The service a request's latency is looked up by: its SigV4 scope, except DynamoDB Streams, which
 * signs as `dynamodb` and is told apart by its target (`streams.dynamodb`).
 */
export function latencyServiceOf(headers: IncomingMessage['headers']): string {
  return String(headers['x-amz-target'] ?? '').startsWith('DynamoDBStreams_') ? 'streams.dynamodb' : serviceOf(headers);
}

/** EC2 actions that change what the sandbox follows (the Elastic IP's association, instance states). */
export const EC2_CHANGES: ReadonlySet<string> = new Set(['AssociateAddress', 'DisassociateAddress', 'StopInstances', 'StartInstances', 'TerminateInstances', 'RebootInstances']);

/** The operation of a JSON-protocol request (`X-Amz-Target: DynamoDB_20120810.Query` → `Query`); query-protocol ones name it in the body. */
export function operationOf(headers: IncomingMessage['headers']): string | null {
  const target = String(headers['x-amz-target'] ?? '');
  const dot = target.lastIndexOf('.');
  return dot >= 0 ? target.slice(dot + 1) : null;
}

interface ErrorReply {
  status: number;
  contentType: string;
  body: string;
}

function jsonError(status: number, type: string, message: string, version: '1.0' | '1.1'): ErrorReply {
  return { status, contentType: `application/x-amz-json-${version}`, body: JSON.stringify({ __type: type, message }) };
}

function ec2Error(status: number, code: string, message: string): ErrorReply {
  return {
    status,
    contentType: 'text/xml;charset=UTF-8',
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  };
}

function queryError(status: number, type: 'Sender' | 'Receiver', code: string, message: string): ErrorReply {
  return {
    status,
    contentType: 'text/xml',
    body: `<ErrorResponse><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  };
}

/**
 * The error AWS answers a throttled (`throttle`) or failed (`server`) request of this service with.
 * DynamoDB throttles with either of its two exceptions (`pick` < 0.5 → ProvisionedThroughputExceeded).
 */
export function faultReply(service: string, kind: 'throttle' | 'server', pick = 0): ErrorReply {
  const dynamo = 'com.amazonaws.dynamodb.v20120810#';
  switch (service) {
    case 'dynamodb':
    case 'streams.dynamodb':
      if (kind === 'server') return jsonError(500, `${dynamo}InternalServerError`, 'Internal server error (injected by the sandbox)', '1.0');
      return pick < 0.5
        ? jsonError(400, `${dynamo}ProvisionedThroughputExceededException`, 'The level of configured provisioned throughput for the table was exceeded (injected by the sandbox)', '1.0')
        : jsonError(400, 'com.amazon.coral.availability#ThrottlingException', 'Rate exceeded (injected by the sandbox)', '1.0');
    case 'ssm':
      return kind === 'server'
        ? jsonError(500, 'InternalServerError', 'Internal server error (injected by the sandbox)', '1.1')
        : jsonError(400, 'ThrottlingException', 'Rate exceeded (injected by the sandbox)', '1.1');
    case 'ec2':
      return kind === 'server' ? ec2Error(500, 'InternalError', 'An internal error has occurred (injected by the sandbox)') : ec2Error(503, 'RequestLimitExceeded', 'Request limit exceeded. (injected by the sandbox)');
    default:
      return kind === 'server'
        ? queryError(500, 'Receiver', 'InternalFailure', 'Internal failure (injected by the sandbox)')
        : queryError(400, 'Sender', 'Throttling', 'Rate exceeded (injected by the sandbox)');
  }
}

interface Route {
  name: string;
  port: number;
  faults: RouteFaults;
  counters: RouteCounters;
  server: Server | null;
  /** Requests held by a blackhole, reset when it ends. */
  held: Set<ServerResponse>;
  sockets: Set<Socket>;
  operations: Map<string, number>;
}

export interface AwsFaultProxyOptions {
  /** moto's endpoint, e.g. `http://10.213.1.1:5000`. */
  upstream: string;
  /** The address every route listens on (the sandbox's gateway). */
  listenHost: string;
  /** Route name → port (0: any free port). */
  routes: Record<string, number>;
  /** @default Math.random */
  random?: () => number;
  /** Latency added to every request of a service, on every route (see {@link latencyServiceOf}). */
  serviceLatency?: Record<string, Delay>;
}

const newCounters = (): RouteCounters => ({ requests: 0, forwarded: 0, delayed: 0, errors: 0, throttled: 0, blackholed: 0 });

/** The proxy. The constructor only assigns; {@link start} listens. */
export class AwsFaultProxy {
  private readonly routes = new Map<string, Route>();
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly random: () => number;
  /** EC2 changes answered so far, and who waits for the next. */
  private changes = 0;
  private readonly changeWaiters = new Set<() => void>();

  constructor(private readonly options: AwsFaultProxyOptions) {
    this.upstream = new URL(options.upstream);
    this.random = options.random ?? Math.random;
    for (const [name, port] of Object.entries(options.routes)) {
      this.routes.set(name, { name, port, faults: {}, counters: newCounters(), server: null, held: new Set(), sockets: new Set(), operations: new Map() });
    }
  }

  async start(): Promise<void> {
    for (const route of this.routes.values()) {
      const server = createServer((req, res) => this.handle(route, req, res));
      server.keepAliveTimeout = 60_000;
      server.requestTimeout = 0; // a stalled moto stalls the client, not the proxy
      server.on('connection', (socket) => {
        route.sockets.add(socket);
        socket.on('close', () => route.sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(new PgvigilError('SYS_FAILURE', `the AWS proxy could not listen for ${route.name} on ${this.options.listenHost}:${route.port}`, { detail: error.message })),
        );
        server.listen(route.port, this.options.listenHost, () => resolve());
      });
      const address = server.address();
      route.port = typeof address === 'object' && address ? address.port : route.port;
      route.server = server;
    }
  }

  /** `http://host:port` of a route (its AWS_ENDPOINT_URL). */
  endpoint(route: string): string {
    return `http://${this.options.listenHost}:${this.route(route).port}`;
  }

  private route(name: string): Route {
    const route = this.routes.get(name);
    if (!route) throw new PgvigilError('NOT_FOUND', `the AWS proxy has no route "${name}"`, { detail: `routes: ${[...this.routes.keys()].join(', ')}` });
    return route;
  }

  /** Replaces a route's faults (`{}` heals it). Ending a blackhole resets the connections it held. */
  setFaults(name: string, faults: RouteFaults): void {
    const route = this.route(name);
    const wasBlackhole = route.faults.blackhole === true;
    route.faults = { ...faults };
    if (wasBlackhole && !faults.blackhole) {
      for (const res of route.held) res.socket?.destroy();
      route.held.clear();
    }
  }

  /** Heals every route. */
  clear(): void {
    for (const name of this.routes.keys()) this.setFaults(name, {});
  }

  status(): Record<string, RouteStatus> {
    return Object.fromEntries(
      [...this.routes.values()].map((r) => [r.name, { port: r.port, faults: { ...r.faults }, counters: { ...r.counters }, operations: Object.fromEntries(r.operations) }]),
    );
  }

  private handle(route: Route, req: IncomingMessage, res: ServerResponse): void {
    route.counters.requests += 1;
    const faults = route.faults;
    if (faults.blackhole) {
      route.counters.blackholed += 1;
      route.held.add(res);
      res.on('close', () => route.held.delete(res));
      req.resume();
      return;
    }
    const draw = this.random();
    const errorRate = faults.errorRate ?? 0;
    const throttleRate = faults.throttleRate ?? 0;
    const delay = (faults.latencyMs ?? 0) + Math.floor(this.random() * (faults.jitterMs ?? 0));
    const service = this.options.serviceLatency?.[latencyServiceOf(req.headers)];
    const wait = delay + (service ? drawDelay(service, this.random) : 0);
    const act = (): void => {
      // The faults may have changed while the request waited (a blackhole began: hold it too).
      if (route.faults.blackhole) {
        route.counters.blackholed += 1;
        route.held.add(res);
        res.on('close', () => route.held.delete(res));
        req.resume();
        return;
      }
      if (draw < errorRate || draw < errorRate + throttleRate) {
        const reply = faultReply(serviceOf(req.headers), draw < errorRate ? 'server' : 'throttle', this.random());
        if (draw < errorRate) route.counters.errors += 1;
        else route.counters.throttled += 1;
        req.resume();
        req.on('end', () => {
          res.writeHead(reply.status, { 'content-type': reply.contentType, 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(reply.body) });
          res.end(reply.body);
        });
        return;
      }
      this.forward(route, req, res);
    };
    if (wait > 0) {
      if (delay > 0) route.counters.delayed += 1;
      req.pause();
      setTimeout(act, wait);
    } else {
      act();
    }
  }

  private forward(route: Route, req: IncomingMessage, res: ServerResponse): void {
    route.counters.forwarded += 1;
    const count = (operation: string): void => {
      const key = `${serviceOf(req.headers)}:${operation}`;
      route.operations.set(key, (route.operations.get(key) ?? 0) + 1);
    };
    let action = operationOf(req.headers);
    if (action) count(action);
    else {
      req.once('data', (chunk: Buffer) => {
        action = /(?:^|&)Action=([A-Za-z0-9]+)/.exec(chunk.toString('latin1'))?.[1] ?? 'unknown';
        count(action);
      });
    }
    const upstream = request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: this.agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        const status = answer.statusCode ?? 502;
        if (status < 300 && action !== null && EC2_CHANGES.has(action)) answer.once('end', () => this.changed());
      },
    );
    // moto unreachable: the client sees its connection reset, as it would without the proxy.
    upstream.on('error', () => res.socket?.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
    req.resume();
  }

  private changed(): void {
    this.changes += 1;
    for (const wake of [...this.changeWaiters]) wake();
  }

  /**
   * The number of EC2 changes answered so far, once it is above `after` or `timeoutMs` passed
   * (a long poll: the VIP proxy and the instance watcher read again when it moves).
   */
  waitForChange(after: number, timeoutMs: number): Promise<number> {
    if (this.changes !== after) return Promise.resolve(this.changes);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.changeWaiters.delete(wake);
        resolve(this.changes);
      };
      const timer = setTimeout(wake, timeoutMs);
      this.changeWaiters.add(wake);
    });
  }

  async stop(): Promise<void> {
    for (const wake of [...this.changeWaiters]) wake();
    for (const route of this.routes.values()) {
      for (const s of route.sockets) s.destroy();
      const server = route.server;
      route.server = null;
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.agent.destroy();
  }
}

/** Serves the proxy's control API (`GET /routes`, `PUT /faults/ROUTE`, `DELETE /faults`) on a Unix socket. */
export async function serveProxyControl(proxy: AwsFaultProxy, socketPath: string): Promise<() => Promise<void>> {
  if (existsSync(socketPath)) rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      try {
        const url = new URL(req.url ?? '/', 'http://proxy');
        const set = /^\/faults\/([a-z0-9-]+)$/.exec(url.pathname);
        if (req.method === 'GET' && url.pathname === '/routes') return reply(200, proxy.status());
        if (req.method === 'GET' && url.pathname === '/changes') {
          const after = Number(url.searchParams.get('after') ?? 0);
          const waitMs = Math.min(60_000, Math.max(0, Number(url.searchParams.get('wait') ?? 0)));
          if (!Number.isInteger(after) || !Number.isFinite(waitMs)) return reply(400, { error: 'GET /changes: after and wait must be integers' });
          void proxy.waitForChange(after, waitMs).then((seq) => reply(200, { changes: seq }));
          return;
        }
        if (req.method === 'DELETE' && url.pathname === '/faults') {
          proxy.clear();
          return reply(200, proxy.status());
        }
        if (req.method === 'PUT' && set) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            return reply(400, { error: `PUT ${url.pathname}: the body is not JSON` });
          }
          proxy.setFaults(set[1] as string, parseRouteFaults(parsed, `PUT ${url.pathname}`));
          return reply(200, proxy.status());
        }
        return reply(404, { error: `no ${req.method ?? ''} ${url.pathname} (GET /routes, GET /changes, PUT /faults/ROUTE, DELETE /faults)` });
      } catch (error) {
        const e = error as PgvigilError;
        return reply(e.code === 'NOT_FOUND' ? 404 : e.code === 'BAD_INPUT' ? 400 : 500, { error: e.message, detail: e.detail });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      rmSync(socketPath, { force: true });
    });
}

/** A client of the control API (what the chaos campaign and the tests use). */
export class AwsProxyControl {
  constructor(private readonly socketPath: string) {}

  private call<T = Record<string, RouteStatus>>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path, headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            return reject(new PgvigilError('SYS_FAILURE', `the AWS proxy answered ${method} ${path} with no JSON (HTTP ${res.statusCode})`));
          }
          if (res.statusCode === 200) return resolve(parsed as T);
          const e = parsed as { error?: string; detail?: string };
          reject(new PgvigilError(res.statusCode === 400 ? 'BAD_INPUT' : res.statusCode === 404 ? 'NOT_FOUND' : 'SYS_FAILURE', e.error ?? `HTTP ${res.statusCode}`, { detail: e.detail }));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (error) => reject(new PgvigilError('SYS_FAILURE', `cannot reach the AWS proxy's control socket ${this.socketPath}`, { detail: error.message })));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  status(): Promise<Record<string, RouteStatus>> {
    return this.call('GET', '/routes');
  }

  set(route: string, faults: RouteFaults): Promise<Record<string, RouteStatus>> {
    return this.call('PUT', `/faults/${encodeURIComponent(route)}`, faults);
  }

  clear(): Promise<Record<string, RouteStatus>> {
    return this.call('DELETE', '/faults');
  }

  /** The EC2 changes answered so far, once above `after` (or after `waitMs`). */
  async changes(after: number, waitMs: number): Promise<number> {
    const answer = await this.call<{ changes: number }>('GET', `/changes?after=${after}&wait=${waitMs}`, undefined, waitMs + 10_000);
    return answer.changes;
  }
}
