/**
 * The agent's HTTP server (docs/agent.md, "The HTTP API"): Patroni-compatible health endpoints
 * answered from the daemon's latest facts (answer.ts), and `POST /failsafe`, a primary's
 * authenticated request for a confirmation (auth.ts). Requests are bounded in size and time; a bad
 * one gets a 4xx whose JSON says what was wrong, and changes nothing.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHostPort } from '../../core/routes.js';
import type { Logger } from '../log.js';
import type { ConfirmDecision, ConfirmRequest } from '../daemon/failsafe.js';
import { answer, type ApiFacts } from './answer.js';
import { SIGNATURE_HEADER, sign, verify } from './auth.js';

/** Longest request line target accepted. */
export const MAX_URL_BYTES = 2048;
/** Largest request body accepted (a confirmation request is about a hundred bytes). */
export const MAX_BODY_BYTES = 4096;

export const FAILSAFE_PATH = '/failsafe';

/** What a primary sends with `POST /failsafe`. */
export interface ConfirmRequestBody {
  cluster_id: string;
  node_id: number;
  term: number;
  /** Random, echoed in the signed answer: binds the answer to this request. */
  nonce: string;
}

/** The signed answer. */
export interface ConfirmAnswerBody {
  confirmed: boolean;
  node_id: number;
  nonce: string;
  /** The candidates this standby knows of (when confirmed). */
  candidates?: number[];
  why?: string;
}

export interface ApiServerDeps {
  /** address:port (rest_api_listen). */
  listen: string;
  facts: () => ApiFacts;
  monotonic: () => number;
  /** The cluster's shared secret; undefined when none could be read (confirmations are then refused). */
  secret: () => Buffer | undefined;
  /** Decides and, when it confirms, records the promise before resolving. */
  confirm: (req: ConfirmRequest) => Promise<ConfirmDecision & { candidates?: number[] }>;
  nodeId: number;
  log: Logger;
}

export class AgentApiServer {
  private server: Server | undefined;

  constructor(private readonly deps: ApiServerDeps) {}

  async start(): Promise<void> {
    const hp = parseHostPort(this.deps.listen);
    if (!hp || hp.port === null) throw new Error(`rest_api_listen: expected address:port, got "${this.deps.listen}"`);
    const server = createServer({ maxHeaderSize: 8192, requestTimeout: 5000, headersTimeout: 5000, keepAliveTimeout: 5000 }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.deps.log.log('ERROR', 'agent API request failed', { error: String(error) });
        if (!res.headersSent) send(res, 500, { error: 'internal error' }, 'full');
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(hp.port ?? 0, hp.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.deps.log.log('INFO', 'agent API listening', { listen: this.deps.listen });
  }

  /** The bound port (tests listen on port 0). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    if (Buffer.byteLength(target) > MAX_URL_BYTES) return send(res, 414, { error: `request target longer than ${MAX_URL_BYTES} bytes` }, 'full');
    let url: URL;
    try {
      url = new URL(target, 'http://agent');
    } catch {
      return send(res, 400, { error: 'request target is not a valid URL path' }, 'full');
    }
    const method = req.method ?? 'GET';
    if (url.pathname === FAILSAFE_PATH) {
      if (method !== 'POST') return send(res, 405, { error: `method ${method} is not allowed on ${FAILSAFE_PATH}: it takes POST` }, 'full');
      return this.failsafe(req, res);
    }
    if (method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE') req.resume();
    const a = answer({ method, path: url.pathname, query: url.searchParams }, this.deps.facts(), this.deps.monotonic());
    send(res, a.status, a.body, method === 'HEAD' ? 'head' : method === 'OPTIONS' ? 'none' : 'full');
  }

  private async failsafe(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === undefined) return send(res, 413, { error: `request body larger than ${MAX_BODY_BYTES} bytes` }, 'full');
    const secret = this.deps.secret();
    const signature = req.headers[SIGNATURE_HEADER];
    if (!secret) return send(res, 401, { error: 'this agent has no API secret (rest_api_secret_file or rest_api_secret_arn): it confirms nothing' }, 'full');
    if (!verify(secret, 'request', body, typeof signature === 'string' ? signature : undefined)) {
      this.deps.log.log('WARNING', 'failsafe request refused: missing or wrong signature', { from: req.socket.remoteAddress });
      return send(res, 401, { error: `missing or wrong ${SIGNATURE_HEADER}: the request must be signed with the cluster's API secret` }, 'full');
    }
    const parsed = parseConfirmRequest(body);
    if (typeof parsed === 'string') return send(res, 400, { error: parsed }, 'full');
    const d = await this.deps.confirm({ clusterId: parsed.cluster_id, nodeId: parsed.node_id, term: parsed.term });
    const out: ConfirmAnswerBody = d.confirm
      ? { confirmed: true, node_id: this.deps.nodeId, nonce: parsed.nonce, candidates: d.candidates ?? [] }
      : { confirmed: false, node_id: this.deps.nodeId, nonce: parsed.nonce, why: d.why };
    const text = JSON.stringify(out);
    res.writeHead(d.confirm ? 200 : 409, { 'content-type': 'application/json', 'cache-control': 'no-store', [SIGNATURE_HEADER]: sign(secret, 'answer', text) });
    res.end(text);
  }
}

/** A confirmation request's body, strictly: every field, of its type, nothing else. */
export function parseConfirmRequest(body: string): ConfirmRequestBody | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'request body is not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'request body must be a JSON object';
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !['cluster_id', 'node_id', 'term', 'nonce'].includes(k));
  if (extra !== undefined) return `unknown field ${extra.slice(0, 64)} in the request body`;
  if (typeof o.cluster_id !== 'string' || o.cluster_id.length === 0 || o.cluster_id.length > 64) return 'cluster_id must be a non-empty string';
  if (!Number.isSafeInteger(o.node_id) || (o.node_id as number) <= 0) return 'node_id must be a positive integer';
  if (!Number.isSafeInteger(o.term) || (o.term as number) < 0) return 'term must be a non-negative integer';
  if (typeof o.nonce !== 'string' || !/^[0-9a-f]{16,64}$/.test(o.nonce)) return 'nonce must be 16 to 64 hex digits';
  return { cluster_id: o.cluster_id, node_id: o.node_id as number, term: o.term as number, nonce: o.nonce };
}

/** The body, or undefined once it exceeds `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `head`: HEAD's headers of the GET answer; `none`: OPTIONS, status only (an empty body). */
function send(res: ServerResponse, status: number, body: Record<string, unknown>, mode: 'full' | 'head' | 'none'): void {
  const text = JSON.stringify(body);
  const length = mode === 'none' ? 0 : Buffer.byteLength(text);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': length });
  res.end(mode === 'full' ? text : undefined);
}
