/**
 * The sandbox's writer and reader routes (docs/sandbox.md, "Writer and reader routes"): what the
 * stack's internal Network Load Balancer does (infra/load-balancer.ts), on a local TCP port. Each
 * route checks every PostgreSQL host's agent API (`/primary` for the writer, `/replica?lag=…` for
 * the reader) as a target group does: one check per interval, bounded by a timeout; a target turns
 * healthy after `healthyThreshold` passed checks in a row and unhealthy after `unhealthyThreshold`
 * failed ones. New connections go to the healthy targets, round robin; a target turning unhealthy
 * has its open connections closed (the stack's `target_health_state.unhealthy.connection_termination`).
 * With no healthy target the route fails open to every target, as an NLB does, until one is healthy
 * again.
 */
import { get as httpGet } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { PgvigilError } from '../core/errors.js';
import { forward } from './vip.js';

export interface RouteTarget {
  /** The host's name (messages, status). */
  name: string;
  /** Where PostgreSQL listens. */
  host: string;
  port: number;
  /** Where the agent API listens (`rest_api_listen`). */
  apiHost: string;
  apiPort: number;
}

export interface HealthCheck {
  /** The health check's path and query, e.g. `/primary`, `/replica?lag=16MB`. */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface HealthRouteOptions {
  /** `writer` or `reader` (messages). */
  name: string;
  targets: readonly RouteTarget[];
  check: HealthCheck;
  /** @default '127.0.0.1' */
  listenHost?: string;
  /** 0 picks a free port. @default 0 */
  listenPort?: number;
  /** Called when a target's health changes. */
  onChange?: (target: string, healthy: boolean) => void;
}

interface TargetState {
  target: RouteTarget;
  healthy: boolean;
  /** Checks in a row with the same result, and that result. */
  streak: number;
  lastPassed: boolean | null;
}

interface Pipe {
  client: Socket;
  upstream: Socket | null;
  target: string;
}

/** One GET of `path` on the agent API; true on a 200 within `timeoutMs`. */
export function checkOnce(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * The thresholds of a target group: `healthy` after `healthyThreshold` passes in a row,
 * `unhealthy` after `unhealthyThreshold` failures in a row; a new target starts unhealthy (an NLB's
 * `initial` state receives no connections).
 */
export function nextHealth(state: Pick<TargetState, 'healthy' | 'streak' | 'lastPassed'>, passed: boolean, check: Pick<HealthCheck, 'healthyThreshold' | 'unhealthyThreshold'>): Pick<TargetState, 'healthy' | 'streak' | 'lastPassed'> {
  const streak = state.lastPassed === passed ? state.streak + 1 : 1;
  let healthy = state.healthy;
  if (passed && !healthy && streak >= check.healthyThreshold) healthy = true;
  if (!passed && healthy && streak >= check.unhealthyThreshold) healthy = false;
  return { healthy, streak, lastPassed: passed };
}

/** One route. The constructor only assigns; {@link start} listens and starts checking. */
export class HealthRoute {
  private server: Server | null = null;
  private readonly states: TargetState[];
  private readonly pipes = new Set<Pipe>();
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;
  private next = 0;
  private boundPort = 0;

  constructor(private readonly options: HealthRouteOptions) {
    this.states = options.targets.map((target) => ({ target, healthy: false, streak: 0, lastPassed: null }));
  }

  get name(): string {
    return this.options.name;
  }
  get host(): string {
    return this.options.listenHost ?? '127.0.0.1';
  }
  get port(): number {
    return this.boundPort;
  }
  /** The targets that receive new connections now (by name). */
  get healthy(): string[] {
    return this.states.filter((s) => s.healthy).map((s) => s.target.name);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new PgvigilError('SYS_FAILURE', `the ${this.name} route could not listen on ${this.host}:${this.options.listenPort ?? 0}`, { detail: error.message })));
      server.listen(this.options.listenPort ?? 0, this.host, () => resolve());
    });
    server.on('error', () => undefined);
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.checking = this.checkAll().finally(() => {
        this.checking = null;
        this.schedule(Math.max(0, this.options.check.intervalMs - (Date.now() - started)));
      });
    }, delayMs);
  }

  /** One round of checks, every target at once; resolves when the round has been applied. */
  async checkAll(): Promise<void> {
    const c = this.options.check;
    const results = await Promise.all(this.states.map((s) => checkOnce(s.target.apiHost, s.target.apiPort, c.path, c.timeoutMs)));
    if (this.stopped) return;
    this.states.forEach((s, i) => {
      const was = s.healthy;
      Object.assign(s, nextHealth(s, results[i] === true, c));
      if (was === s.healthy) return;
      this.options.onChange?.(s.target.name, s.healthy);
    });
    // Connections to an unhealthy target are closed: those of a target that just turned unhealthy,
    // and those the route failed open to, once a target is healthy again.
    const healthy = new Set(this.healthy);
    if (healthy.size > 0) for (const pipe of [...this.pipes]) if (!healthy.has(pipe.target)) this.close(pipe);
  }

  /** Round robin over the healthy targets; over all of them when none is (fail open). */
  private pick(): RouteTarget | undefined {
    const healthy = this.states.filter((s) => s.healthy);
    const pool = (healthy.length > 0 ? healthy : this.states).map((s) => s.target);
    if (pool.length === 0) return undefined;
    this.next = (this.next + 1) % pool.length;
    return pool[this.next];
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    const target = this.pick();
    if (!target) {
      client.destroy();
      return;
    }
    const pipe: Pipe = { client, upstream: null, target: target.name };
    this.pipes.add(pipe);
    pipe.upstream = forward(client, target, () => this.close(pipe));
  }

  private close(pipe: Pipe): void {
    if (!this.pipes.delete(pipe)) return;
    pipe.client.destroy();
    pipe.upstream?.destroy();
  }

  /** Stops listening and checking and cuts every connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.checking?.catch(() => undefined);
    for (const pipe of [...this.pipes]) this.close(pipe);
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * The sandbox's health checks: an NLB's shape (thresholds of 2, as the stack's defaults) at the
 * sandbox's pace — a 1 s interval instead of the NLB's 5 s minimum, as the sandbox's lease is 5 s
 * instead of 20 (docs/sandbox.md, "Writer and reader routes").
 */
export const SANDBOX_HEALTH_CHECK: Omit<HealthCheck, 'path'> = { intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2 };

/**
 * The reader route's checks: dropped on the first failed check. Dropping a reader only moves reads
 * to the other standbys (or the primary-less fail-open), so a standby past the lag bound leaves at
 * once; the writer route keeps 2, as one lost check would otherwise move every write off a
 * healthy primary. An NLB cannot go below 2 (docs/agent.md, "Network Load Balancer").
 */
export const SANDBOX_READER_HEALTH_CHECK: Omit<HealthCheck, 'path'> = { ...SANDBOX_HEALTH_CHECK, unhealthyThreshold: 1 };

/** The reader route's lag bound (the stack's default, infra/load-balancer.ts). */
export const SANDBOX_READER_LAG = '16MB';
