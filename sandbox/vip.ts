/**
 * The Elastic IP in the sandbox (docs/sandbox.md): a TCP proxy on a fixed local port (127.0.0.1:6432 by
 * default) whose target follows the emulated association. The controller moves the address with
 * the real EC2 API (adapters/ec2-vip.ts against moto); this proxy polls DescribeAddresses, maps the
 * associated instance to its sandbox host, and forwards new connections there.
 *
 * When the association moves (or is removed), every open connection to the old target is cut, so
 * a client cannot keep writing to a fenced primary through the VIP — as with a real EIP, whose
 * moved address no longer reaches the old instance.
 *
 * In AWS, traffic reaches the new instance some time after AssociateAddress returns; with a
 * `followDelayMs` (the `aws` latency profile, sandbox/latency.ts) the proxy keeps forwarding to the
 * old target for that long after it saw the association move, then switches.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { PgvigilError } from '../core/errors.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';

/** Where the VIP forwards to. */
export interface VipTarget {
  host: string;
  port: number;
  /** The EC2 instance the address is associated with (for messages). */
  instanceId?: string;
}

/** Resolves the current target; null = not associated. Throwing keeps the last known target. */
export type VipResolver = () => Promise<VipTarget | null>;

export interface VipProxyOptions {
  resolve: VipResolver;
  /** @default '127.0.0.1' */
  listenHost?: string;
  /** @default 6432 (0 picks a free port) */
  listenPort?: number;
  /** How often the association is read. @default 200 */
  pollIntervalMs?: number;
  /** Called after the target changed (from and to may be null). */
  onMove?: (from: VipTarget | null, to: VipTarget | null, cut: number) => void;
  /** Called when resolving fails (the last known target stays). */
  onError?: (error: unknown) => void;
  /** How long after a move is seen traffic follows it (drawn per move). @default none */
  followDelayMs?: () => number;
}

function same(a: VipTarget | null, b: VipTarget | null): boolean {
  return a === b || (a !== null && b !== null && a.host === b.host && a.port === b.port);
}

function key(t: VipTarget): string {
  return `${t.host}:${t.port}`;
}

interface Pipe {
  client: Socket;
  upstream: Socket | null;
  target: VipTarget;
}

/**
 * Forwards a client connection to `target`: the bytes flow both ways once the upstream connection
 * is up and `wanted()` still holds then; `onEnd` when either side closes or fails (or `wanted()`
 * no longer holds), for the caller to destroy both. Returns the upstream socket.
 */
export function forward(client: Socket, target: { host: string; port: number }, onEnd: () => void, wanted: () => boolean = () => true): Socket {
  client.pause();
  const upstream = createConnection({ host: target.host, port: target.port });
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  upstream.on('error', onEnd);
  client.on('close', onEnd);
  upstream.on('close', onEnd);
  upstream.once('connect', () => {
    if (!wanted()) return onEnd();
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  return upstream;
}

/** The proxy. The constructor only assigns; {@link start} listens and starts polling. */
export class VipProxy {
  private server: Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private current: VipTarget | null = null;
  private readonly pipes = new Set<Pipe>();
  private polling: Promise<void> | null = null;
  private stopped = false;
  private boundPort = 0;
  /** A move seen but not yet followed (the follow delay), and its timer. */
  private pending: { target: VipTarget | null; timer: NodeJS.Timeout } | null = null;

  constructor(private readonly options: VipProxyOptions) {}

  get target(): VipTarget | null {
    return this.current;
  }
  get port(): number {
    return this.boundPort;
  }
  get host(): string {
    return this.options.listenHost ?? '127.0.0.1';
  }
  /** Connections forwarded right now. */
  get connections(): number {
    return this.pipes.size;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh(true); // where the address is now: nothing to follow yet
    const server = createServer((client) => this.accept(client));
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new PgvigilError('SYS_FAILURE', `the VIP proxy could not listen on ${this.host}:${this.options.listenPort ?? 6432}`, {
            detail: error.message,
            hint: error.code === 'EADDRINUSE' ? 'another sandbox (or program) uses that port; choose another with --vip-port' : undefined,
          }),
        ),
      );
      server.listen(this.options.listenPort ?? 6432, this.host, () => resolve());
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule());
    }, this.options.pollIntervalMs ?? 200);
  }

  /**
   * Reads the association now (also called by the poller); resolves when the target is applied, or
   * its follow delay has begun. `immediate` applies it without the delay.
   */
  refresh(immediate = false): Promise<void> {
    // One read at a time; a caller arriving mid-read waits for it and then reads again.
    const run = async (): Promise<void> => {
      let next: VipTarget | null;
      try {
        next = await this.options.resolve();
      } catch (error) {
        this.options.onError?.(error);
        return;
      }
      this.apply(next, immediate);
    };
    const previous = this.polling ?? Promise.resolve();
    const mine = previous.then(run, run);
    this.polling = mine;
    return mine;
  }

  private apply(next: VipTarget | null, immediate: boolean): void {
    if (this.pending) {
      if (same(this.pending.target, next)) return; // already on its way
      clearTimeout(this.pending.timer);
      this.pending = null;
    }
    if (same(this.current, next)) return;
    const delay = immediate ? 0 : (this.options.followDelayMs?.() ?? 0);
    if (delay <= 0) return this.follow(next);
    const pending = {
      target: next,
      timer: setTimeout(() => {
        if (this.pending !== pending) return;
        this.pending = null;
        if (!this.stopped) this.follow(next);
      }, delay),
    };
    this.pending = pending;
  }

  private follow(next: VipTarget | null): void {
    if (same(this.current, next)) return;
    const from = this.current;
    this.current = next;
    let cut = 0;
    for (const pipe of [...this.pipes]) {
      if (next === null || key(pipe.target) !== key(next)) {
        this.close(pipe);
        cut += 1;
      }
    }
    this.options.onMove?.(from, next, cut);
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    const target = this.current;
    if (!target) {
      client.destroy(); // not associated: nothing answers on the address
      return;
    }
    const pipe: Pipe = { client, upstream: null, target };
    this.pipes.add(pipe);
    // The address may have moved while we were connecting.
    pipe.upstream = forward(client, target, () => this.close(pipe), () => this.current !== null && key(this.current) === key(target));
  }

  private close(pipe: Pipe): void {
    if (!this.pipes.delete(pipe)) return;
    pipe.client.destroy();
    pipe.upstream?.destroy();
  }

  /** Stops listening and polling and cuts every connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = null;
    for (const pipe of [...this.pipes]) this.close(pipe);
    await this.polling?.catch(() => undefined);
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Resolves the VIP from the emulated Elastic IP: DescribeAddresses → instance id → the sandbox
 * host of that instance (`targets`); an instance the sandbox does not know resolves to null.
 */
export function elasticIpResolver(
  mover: Ec2VipMover,
  allocationId: string,
  targets: (instanceId: string) => VipTarget | undefined,
): VipResolver {
  return async () => {
    const instanceId = await mover.current(allocationId);
    if (!instanceId) return null;
    const target = targets(instanceId);
    return target ? { ...target, instanceId } : null;
  };
}
