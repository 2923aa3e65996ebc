/**
 * `pgvigil standby switchover` on the Lambda path (PGVIGIL_SWITCHOVER_FUNCTION): Lambda's own
 * refusals are named as the switchover function's, with the endpoint, not as the state table's.
 */
import { createServer, type Server } from 'node:http';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LambdaSwitchoverInvoker } from '../../cli/switchover.js';
import { PgvigilError } from '../../core/errors.js';
import { freePort } from '../../sandbox/ports.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const request = { cluster_id: 'main', candidate_node_id: 2, siblings_follow: false, dry_run: true };
let server: Server;
let url: string;

beforeAll(async () => {
  // Lambda's answer for an unknown function.
  server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
    res.end(JSON.stringify({ Type: 'User', message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope' }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function failure(endpoint: string): Promise<PgvigilError> {
  const invoker = new LambdaSwitchoverInvoker(new LambdaClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 }), 'nope');
  const error = await invoker.invoke(request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PgvigilError);
  return error as PgvigilError;
}

describe('the switchover command on the Lambda path', () => {
  it('names an unknown switchover function and where it was looked for, with a hint', async () => {
    const e = await failure(url);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe(`the switchover function "nope" at ${url} does not exist`);
    expect(e.hint).toMatch(/PGVIGIL_SWITCHOVER_FUNCTION/);
  });

  it('says the switchover function cannot be reached when nothing listens at the endpoint', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const e = await failure(closed);
    expect(e.code).toBe('DB_CONN');
    expect(e.message).toBe(`unable to reach the switchover function "nope" at ${closed}`);
    expect(e.hint).toMatch(/AWS_ENDPOINT_URL_LAMBDA/);
  });
});
