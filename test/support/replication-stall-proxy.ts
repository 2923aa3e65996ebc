/**
 * A TCP proxy in front of a PostgreSQL server that, while armed, lets a replication connection
 * start streaming and then delivers nothing more to it, as a network that stops carrying the WAL
 * just after a standby's WAL receiver connected would: the receiver has sent START_REPLICATION and
 * received the server's CopyBothResponse, so it reads "streaming" on the timeline it asked for,
 * and no WAL arrives. Every other connection (queries, pg_rewind) passes. `release()` delivers
 * what was held and stops arming.
 */
import { connect, type Server, type Socket } from 'node:net';
import { listenOnLoopback } from './blackhole-proxy.js';

/** The protocol message that starts streaming replication (CopyBothResponse). */
const COPY_BOTH = 'W'.charCodeAt(0);

interface Pipe {
  client: Socket;
  /** Bytes from the server not yet looked at or not yet delivered. */
  pending: Buffer;
  /** Set once the CopyBothResponse went through while armed: the rest is held. */
  stalled: boolean;
  /** Whether the server has sent its first message (before it, one-byte answers may come). */
  started: boolean;
}

export class ReplicationStallProxy {
  private armed = false;
  /** New connections are closed at once; those already open carry on (SQL fails, streaming goes on). */
  refuseNew = false;
  private readonly pipes = new Set<Pipe>();
  private readonly sockets = new Set<Socket>();
  /** Replication connections stalled so far. */
  stalls = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<ReplicationStallProxy> {
    const holder: { proxy?: ReplicationStallProxy } = {};
    const { server, port } = await listenOnLoopback((client) => holder.proxy?.accept(client, target));
    holder.proxy = new ReplicationStallProxy(server, port);
    return holder.proxy;
  }

  /** From now on, stall every replication connection once it starts streaming. */
  arm(): void {
    this.armed = true;
  }

  /** Deliver what was held, and stall nothing more. */
  release(): void {
    this.armed = false;
    for (const p of this.pipes) {
      p.stalled = false;
      this.forward(p);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    if (this.refuseNew) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pipe: Pipe = { client, pending: Buffer.alloc(0), stalled: false, started: false };
    this.pipes.add(pipe);
    const end = (): void => {
      this.pipes.delete(pipe);
      for (const s of [client, upstream]) {
        s.destroy();
        this.sockets.delete(s);
      }
    };
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', end);
      s.on('close', end);
    }
    client.on('data', (b: Buffer) => upstream.write(b));
    upstream.on('data', (b: Buffer) => {
      pipe.pending = Buffer.concat([pipe.pending, b]);
      this.forward(pipe);
    });
  }

  /** Delivers whole server messages up to, and including, a CopyBothResponse while armed. */
  private forward(p: Pipe): void {
    if (p.stalled) return;
    let end = 0;
    // A server without SSL or GSS encryption answers a client asking for either with one byte, 'N'.
    while (!p.started && p.pending[end] === 'N'.charCodeAt(0)) end++;
    // Every other server message is a type byte and a 4-byte length counting itself.
    while (p.pending.length - end >= 5) {
      p.started = true;
      const size = 1 + p.pending.readInt32BE(end + 1);
      if (p.pending.length - end < size) break;
      const type = p.pending[end];
      end += size;
      if (type === COPY_BOTH && this.armed) {
        p.stalled = true;
        this.stalls++;
        break;
      }
    }
    if (end > 0) p.client.write(p.pending.subarray(0, end));
    p.pending = p.pending.subarray(end);
  }
}
