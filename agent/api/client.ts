/**
 * A primary's side of `POST /failsafe`: one signed request to one standby's agent, bounded in time,
 * and its answer accepted only when signed with the cluster's secret and bound to this request.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { SIGNATURE_HEADER, sign, verify } from './auth.js';
import { FAILSAFE_PATH, MAX_BODY_BYTES, type ConfirmAnswerBody, type ConfirmRequestBody } from './server.js';

export type AskResult = { ok: true; candidates: number[] } | { ok: false; why: string };

export interface AskTarget {
  nodeId: number;
  host: string;
  port: number;
}

export async function askConfirmation(target: AskTarget, secret: Buffer, ask: Omit<ConfirmRequestBody, 'nonce'>, timeoutMs: number): Promise<AskResult> {
  const nonce = randomBytes(16).toString('hex');
  const body = JSON.stringify({ ...ask, nonce } satisfies ConfirmRequestBody);
  let reply: { status: number; signature: string | undefined; text: string };
  try {
    reply = await post(target, body, sign(secret, 'request', body), timeoutMs);
  } catch (error) {
    return { ok: false, why: `node ${target.nodeId} at ${target.host}:${target.port}: ${(error as Error).message}` };
  }
  if (!verify(secret, 'answer', reply.text, reply.signature)) return { ok: false, why: `node ${target.nodeId} answered ${reply.status} without a valid signature` };
  let a: ConfirmAnswerBody;
  try {
    a = JSON.parse(reply.text) as ConfirmAnswerBody;
  } catch {
    return { ok: false, why: `node ${target.nodeId} answered with a body that is not JSON` };
  }
  if (a.nonce !== nonce || a.node_id !== target.nodeId) return { ok: false, why: `node ${target.nodeId} answered for another request or node` };
  if (!a.confirmed) return { ok: false, why: `node ${target.nodeId} does not confirm: ${a.why ?? 'no reason given'}` };
  const candidates = Array.isArray(a.candidates) ? a.candidates.filter((n): n is number => Number.isSafeInteger(n)) : [];
  return { ok: true, candidates };
}

function post(target: AskTarget, body: string, signature: string, timeoutMs: number): Promise<{ status: number; signature: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path: FAILSAFE_PATH,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [SIGNATURE_HEADER]: signature },
        signal: AbortSignal.timeout(Math.ceil(timeoutMs)),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const sig = res.headers[SIGNATURE_HEADER];
          resolve({ status: res.statusCode ?? 0, signature: typeof sig === 'string' ? sig : undefined, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error) => reject(error.name === 'AbortError' ? new Error(`no answer within ${Math.ceil(timeoutMs)} ms`) : error));
    req.end(body);
  });
}
