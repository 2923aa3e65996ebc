/**
 * Drills against a running sandbox from another process: `sandbox up` serves them on a Unix socket
 * in the sandbox directory (only root and the sandbox's owner can reach it), because the drills
 * need the sandbox's live parts (its supervisor, VIP proxy and controller) that live in that
 * process. One drill at a time; a second request while one runs gets 409.
 */
import { existsSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { Sandbox } from '../index.js';
import { scenario } from './index.js';
import { runDrill, type DrillResult } from './runner.js';

export const DRILL_SOCKET = 'drill.sock';

export function drillSocket(dir: string): string {
  return join(dir, DRILL_SOCKET);
}

/** Serves `GET /drill?scenario=NAME` on the sandbox's drill socket; returns how to stop serving. */
export async function serveDrills(sandbox: Sandbox, log: (line: string) => void = () => undefined): Promise<() => Promise<void>> {
  const path = drillSocket(sandbox.dir);
  rmSync(path, { force: true });
  let busy = false;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || url.pathname !== '/drill') return reply(404, { error: 'not found' });
    if (busy) return reply(409, { error: 'another drill is running' });
    let chosen;
    try {
      chosen = scenario(url.searchParams.get('scenario') ?? '');
    } catch (error) {
      return reply(400, { error: (error as Error).message, hint: (error as PgvigilError).hint });
    }
    busy = true;
    log(`drill ${chosen.name}: starting`);
    runDrill(sandbox, chosen, { log })
      .then((result) => {
        log(`drill ${chosen.name}: ${result.ok ? 'ok' : `NOT ok: ${result.problems.join('; ')}`}`);
        reply(200, result);
      })
      .catch((error: unknown) => reply(500, { error: (error as Error).message, detail: (error as PgvigilError).detail }))
      .finally(() => {
        busy = false;
      });
  });
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      rmSync(path, { force: true });
    });
}

/** Asks the sandbox process serving `dir` to run a drill and waits for its result. */
export function requestDrill(dir: string, name: string): Promise<DrillResult> {
  const socketPath = drillSocket(dir);
  if (!existsSync(socketPath)) return Promise.reject(new PgvigilError('NOT_FOUND', `the sandbox in ${dir} serves no drills (no ${DRILL_SOCKET})`));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/drill?scenario=${encodeURIComponent(name)}`, method: 'GET', timeout: 0 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          return reject(new PgvigilError('SYS_FAILURE', `the sandbox answered the drill request with no JSON (HTTP ${res.statusCode})`));
        }
        if (res.statusCode === 200) return resolve(parsed as DrillResult);
        const e = parsed as { error?: string; detail?: string; hint?: string };
        const code = res.statusCode === 400 ? 'BAD_ARGUMENT' : res.statusCode === 409 ? 'CONFLICT' : 'SYS_FAILURE';
        reject(new PgvigilError(code, `drill ${name}: ${e.error ?? `HTTP ${res.statusCode}`}`, { ...(e.detail ? { detail: e.detail } : {}), ...(e.hint ? { hint: e.hint } : {}) }));
      });
    });
    req.on('error', (error) => reject(new PgvigilError('SYS_FAILURE', `cannot reach the sandbox's drill socket ${socketPath}`, { detail: error.message })));
    req.end();
  });
}
