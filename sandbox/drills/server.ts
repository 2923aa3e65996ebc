/**
 * Drills and chaos campaigns against a running sandbox from another process: `sandbox up` serves
 * them on a Unix socket in the sandbox directory (only root and the sandbox's owner can reach it),
 * because they need the sandbox's live parts (its supervisor, VIP proxy and controller) that live
 * in that process. One at a time; a second request while one runs gets 409. A campaign streams its
 * live lines as it runs (one JSON object per line, the result last) and stops when its client goes.
 */
import { existsSync, rmSync } from 'node:fs';
import { createServer, request, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { Sandbox } from '../index.js';
import type { CampaignResult } from '../chaos/campaign.js';
import { scenario } from './index.js';
import { runDrill } from './runner.js';
import type { DrillResult } from './scenario.js';

/** What a client asks of a chaos campaign (the CLI's options, checked by it first). */
export interface ChaosRequest {
  seed: number;
  durationMs: number;
  faults: string[];
  historyFile?: string;
  once?: boolean;
  maxHoldMs?: number;
}

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
    if (req.method === 'GET' && url.pathname === '/chaos') {
      if (busy) return reply(409, { error: 'a drill or a chaos campaign is running already' });
      busy = true;
      void serveChaos(sandbox, url, res, log).finally(() => {
        busy = false;
      });
      return;
    }
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

/** Runs a campaign for a client: its lines as they come, then the result (`{"line"}` … `{"result"}` or `{"error"}`). */
async function serveChaos(sandbox: Sandbox, url: URL, res: ServerResponse, log: (line: string) => void): Promise<void> {
  const send = (body: unknown): void => {
    if (!res.writableEnded) res.write(`${JSON.stringify(body)}\n`);
  };
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  try {
    const { runCampaign } = await import('../chaos/campaign.js');
    const { parseFaultList } = await import('../chaos/schedule.js');
    const request = JSON.parse(url.searchParams.get('request') ?? '{}') as ChaosRequest;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const result = await runCampaign(sandbox, {
      seed: request.seed,
      durationMs: request.durationMs,
      faults: parseFaultList(request.faults.join(',')),
      ...(request.historyFile ? { historyFile: request.historyFile } : {}),
      ...(request.once ? { once: true } : {}),
      ...(request.maxHoldMs !== undefined ? { maxHoldMs: request.maxHoldMs } : {}),
      signal: abort.signal,
      log: (line) => {
        log(`chaos: ${line}`);
        send({ line });
      },
    });
    send({ result });
  } catch (error) {
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const e = error as PgvigilError;
    send({ error: e.message, code: e.code, detail: e.detail, hint: e.hint });
  } finally {
    res.end();
  }
}

/** Asks the sandbox process serving `dir` to run a chaos campaign; `onLine` gets its live lines. */
export function requestChaos(dir: string, chaos: ChaosRequest, onLine: (line: string) => void): Promise<CampaignResult> {
  const socketPath = drillSocket(dir);
  if (!existsSync(socketPath)) return Promise.reject(new PgvigilError('NOT_FOUND', `the sandbox in ${dir} serves no chaos campaigns (no ${DRILL_SOCKET})`));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/chaos?request=${encodeURIComponent(JSON.stringify(chaos))}`, method: 'GET', timeout: 0 }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => reject(new PgvigilError(res.statusCode === 409 ? 'CONFLICT' : 'SYS_FAILURE', `chaos: ${(JSON.parse(body || '{}') as { error?: string }).error ?? `HTTP ${res.statusCode}`}`)));
        return;
      }
      let buffer = '';
      let settled = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const text = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (!text.trim()) continue;
          const message = JSON.parse(text) as { line?: string; result?: CampaignResult; error?: string; code?: string; detail?: string; hint?: string };
          if (message.line !== undefined) onLine(message.line);
          if (message.result) {
            settled = true;
            resolve(message.result);
          }
          if (message.error !== undefined) {
            settled = true;
            reject(new PgvigilError((message.code as PgvigilError['code']) ?? 'SYS_FAILURE', message.error, { ...(message.detail ? { detail: message.detail } : {}), ...(message.hint ? { hint: message.hint } : {}) }));
          }
        }
      });
      res.on('end', () => {
        if (!settled) reject(new PgvigilError('SYS_FAILURE', 'the sandbox ended the chaos campaign without a result', { detail: 'see the sandbox process output' }));
      });
    });
    req.on('error', (error) => reject(new PgvigilError('SYS_FAILURE', `cannot reach the sandbox's drill socket ${socketPath}`, { detail: error.message })));
    req.end();
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
