/**
 * Tiny TCP helpers for sandbox tests: an echo server that prefixes every reply with its name (so a
 * test can tell which target answered), and a client that sends one line and waits for the reply.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Source of a stand-alone echo server, for running with `node -e` inside a namespace. */
export function echoServerScript(name: string, host: string, port: number): string {
  return `require('node:net').createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(${JSON.stringify(name)} + ':' + d)); }).listen(${port}, ${JSON.stringify(host)}, () => console.log('listening'));`;
}

/** Source of a one-shot client for `node -e`: exits 0 and prints the reply, or exits 1. */
export function echoClientScript(host: string, port: number, timeoutMs: number): string {
  return `const s = require('node:net').createConnection(${port}, ${JSON.stringify(host)}); s.setTimeout(${timeoutMs}, () => { console.error('timeout'); process.exit(1); }); s.on('error', (e) => { console.error(e.code); process.exit(1); }); s.on('connect', () => s.write('ping')); s.on('data', (d) => { console.log(String(d)); process.exit(0); });`;
}

export interface EchoServer {
  port: number;
  server: Server;
  /** Connections currently open. */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

export async function startEchoServer(name: string, host = '127.0.0.1'): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (d) => socket.write(`${name}:${String(d)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('echo server has no port');
  return {
    port: address.port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends `text` and resolves with the first reply; rejects on error, close or timeout. */
export function request(host: string, port: number, text = 'ping', timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, host);
    const done = (error?: Error, reply?: string) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(reply ?? '');
    };
    socket.setTimeout(timeoutMs, () => done(new Error('timeout')));
    socket.on('error', (e) => done(e));
    socket.on('close', () => done(new Error('closed')));
    socket.on('connect', () => socket.write(text));
    socket.on('data', (d) => done(undefined, String(d)));
  });
}

/** An open connection whose replies and closing can be observed. */
export interface OpenConnection {
  socket: Socket;
  closed: Promise<void>;
  ask(text: string, timeoutMs?: number): Promise<string>;
}

export async function openConnection(host: string, port: number): Promise<OpenConnection> {
  const socket = createConnection(port, host);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    ask: (text, timeoutMs = 2000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        socket.once('data', (d) => {
          clearTimeout(timer);
          resolve(String(d));
        });
        socket.write(text);
      }),
  };
}
