/**
 * A TCP proxy in front of an endpoint (moto) that can stop delivering, as a network that drops
 * packets does: while it holds, every byte in either direction on every connection, old or new, is
 * kept back; nothing is refused or closed, so a client sees a request that never answers. When it
 * passes again, what was held is delivered (as TCP's retransmissions eventually would).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pipe {
  client: Socket;
  upstream: Socket;
  toUpstream: Buffer[];
  toClient: Buffer[];
}

/** A TCP server on a free loopback port, for the proxies of the tests. */
export async function listenOnLoopback(onConnection: (client: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return { server, port };
}

export class BlackholeProxy {
  private holding = false;
  private readonly pipes = new Set<Pipe>();
  /** Connections accepted so far (a client that gave up on a request opens a new one). */
  connections = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<BlackholeProxy> {
    const holder: { proxy?: BlackholeProxy } = {};
    const { server, port } = await listenOnLoopback((client) => holder.proxy?.accept(client, target));
    holder.proxy = new BlackholeProxy(server, port);
    return holder.proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** From now on, deliver nothing. */
  hold(): void {
    this.holding = true;
  }

  /** Deliver again, starting with what was held. */
  pass(): void {
    this.holding = false;
    for (const p of this.pipes) {
      for (const b of p.toUpstream.splice(0)) p.upstream.write(b);
      for (const b of p.toClient.splice(0)) p.client.write(b);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pipes) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.connections++;
    const upstream = connect(target.port, target.host);
    const pipe: Pipe = { client, upstream, toUpstream: [], toClient: [] };
    this.pipes.add(pipe);
    const end = (): void => {
      this.pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (b: Buffer) => (this.holding ? pipe.toUpstream.push(b) : upstream.write(b)));
    upstream.on('data', (b: Buffer) => (this.holding ? pipe.toClient.push(b) : client.write(b)));
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }
}
