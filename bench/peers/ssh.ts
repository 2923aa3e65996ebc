/**
 * `ssh` for repmgr's switchover between namespaces: repmgr runs `ssh HOST COMMAND` on the
 * candidate to stop the primary and rejoin it. The `ssh` on its PATH is a small script that hands
 * HOST and COMMAND to this server (a Unix socket owned by the PostgreSQL user), which runs COMMAND
 * on HOST's namespace as that user and sends back its output and exit code — what sshd would do.
 */
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { PeerHosts } from './cluster.js';

export interface SshShim {
  /** The directory to put first on PATH. */
  binDir: string;
  close(): Promise<void>;
}

/** The client: skips ssh's options, sends host and command, prints the answer, exits with its code. */
const CLIENT = `
const net = require('node:net');
const args = process.argv.slice(2);
while (args.length && args[0].startsWith('-')) { const o = args.shift(); if (/^-[oipl]$/.test(o)) args.shift(); }
const host = args.shift();
const command = args.join(' ');
const sock = net.connect(process.env.PGV_SSH_SOCKET || __dirname + '/ssh.sock');
let data = '';
sock.on('data', (d) => (data += d));
sock.on('error', (e) => { process.stderr.write('ssh shim: ' + e.message + '\\n'); process.exit(255); });
sock.on('end', () => { const r = JSON.parse(data); process.stdout.write(r.stdout); process.stderr.write(r.stderr); process.exit(r.code); });
sock.end(JSON.stringify({ host, command }));
`;

/** Starts the server and writes the `ssh` script into `<dir>/bin`. */
export async function startSshShim(hosts: PeerHosts, dir: string): Promise<SshShim> {
  const binDir = join(dir, 'bin');
  hosts.ownedDir(binDir);
  chmodSync(binDir, 0o755);
  writeFileSync(join(binDir, 'ssh-shim.cjs'), CLIENT, { mode: 0o644 });
  writeFileSync(join(binDir, 'ssh'), `#!/bin/sh\nexec "${process.execPath}" "${join(binDir, 'ssh-shim.cjs')}" "$@"\n`, { mode: 0o755 });
  const byAddress = new Map(hosts.network.hosts.map((h) => [h.address, h.name]));
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    let body = '';
    socket.on('data', (d) => (body += d.toString()));
    socket.on('error', () => undefined);
    socket.on('end', () => {
      void (async () => {
        let answer: { code: number; stdout: string; stderr: string };
        try {
          const { host, command } = JSON.parse(body) as { host: string; command: string };
          const name = byAddress.get(host) ?? host;
          const r = await hosts.exec(name, '/bin/sh', ['-c', command], { env: hosts.env({ PATH: `${binDir}:${hosts.env().PATH}` }), allowFailure: true, timeoutMs: 300_000 });
          answer = { code: r.code ?? 255, stdout: r.stdout, stderr: r.stderr };
        } catch (error) {
          answer = { code: 255, stdout: '', stderr: `ssh shim: ${(error as Error).message}\n` };
        }
        socket.end(JSON.stringify(answer));
      })();
    });
  });
  const path = join(binDir, 'ssh.sock');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chownSync(path, hosts.user.uid, hosts.user.gid);
  chmodSync(path, 0o600);
  return { binDir, close: () => new Promise((r) => server.close(() => r())) };
}
