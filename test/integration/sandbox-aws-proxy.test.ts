/**
 * The sandbox's AWS proxy as the sandbox runs it (its own process, one listener per host, faults set
 * over its control socket) with a real moto behind it: the SDK sees exactly the faults configured
 * for its own route, and nothing on the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { AllocateAddressCommand, AssociateAddressCommand, DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsFaultProxy, AwsProxyControl } from '../../sandbox/aws-proxy.js';
import { sandboxEntry } from '../../sandbox/entry-points.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let dir: string;
let proxy: ChildProcess;
let control: AwsProxyControl;
const ports: Record<string, number> = {};
const TABLE = 'proxy-test';

const config = (route: string, maxAttempts = 1) => ({ ...moto.clientConfig, endpoint: `http://127.0.0.1:${ports[route]}`, maxAttempts });

beforeAll(async () => {
  moto = await startMoto();
  await new DynamoDBClient(moto.clientConfig).send(
    new CreateTableCommand({ TableName: TABLE, KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], BillingMode: 'PAY_PER_REQUEST' }),
  );
  dir = mkdtempSync(join(tmpdir(), 'pgv-aws-proxy-'));
  for (const route of ['node1', 'node2', 'controller']) ports[route] = await freePort();
  const socket = join(dir, 'aws-proxy.sock');
  const entry = sandboxEntry('aws-proxy-main', ['--upstream', moto.endpoint, '--listen', '127.0.0.1', '--socket', socket, ...Object.entries(ports).flatMap(([r, p]) => ['--route', `${r}=${p}`])]);
  proxy = spawn(entry.command, entry.args, { stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (!existsSync(socket)) {
    if (proxy.exitCode !== null) throw new Error(`the proxy exited (${proxy.exitCode})`);
    if (Date.now() > deadline) throw new Error('the proxy did not start within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  control = new AwsProxyControl(socket);
});

afterAll(async () => {
  proxy?.kill('SIGTERM');
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await control.clear();
});

const put = (route: string, maxAttempts = 1) =>
  new DynamoDBClient(config(route, maxAttempts)).send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: route }, at: { N: String(Date.now()) } } }));

async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; attempts: number | undefined }> {
  try {
    await p;
  } catch (error) {
    const e = error as { name: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, attempts: e.$metadata?.attempts };
  }
  throw new Error('the call succeeded');
}

describe('the sandbox AWS proxy', () => {
  it('forwards every route to moto while no fault is set', async () => {
    await put('node1');
    await put('controller');
    const item = await new DynamoDBClient(config('node2')).send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'node1' } } }));
    expect(item.Item?.pk?.S).toBe('node1');
    const status = await control.status();
    expect(status.node1?.counters.forwarded).toBeGreaterThan(0);
    expect(status.node2?.counters.forwarded).toBeGreaterThan(0);
  });

  it("throttles one host's DynamoDB calls with the errors the SDK retries as throttling, and no other host's", async () => {
    await control.set('node1', { throttleRate: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const f = await failure(put('node1'));
      expect(['ProvisionedThroughputExceededException', 'ThrottlingException']).toContain(f.name);
      expect(f.status).toBe(400);
      seen.add(f.name);
    }
    expect(seen.size).toBe(2); // both shapes DynamoDB throttles with (8 draws: a miss is 1 in 128)
    // The SDK's standard retry strategy knows them as retryable: it tries up to its attempts.
    expect((await failure(put('node1', 3))).attempts).toBe(3);
    await put('node2');
    expect((await control.status()).node1?.counters.throttled).toBeGreaterThanOrEqual(11);
  });

  it('throttles EC2 and SSM in their own shapes', async () => {
    await control.set('controller', { throttleRate: 1 });
    const ec2 = await failure(new EC2Client(config('controller', 2)).send(new DescribeInstancesCommand({})));
    expect(ec2).toMatchObject({ name: 'RequestLimitExceeded', status: 503, attempts: 2 });
    const ssm = await failure(new SSMClient(config('controller', 2)).send(new DescribeParametersCommand({})));
    expect(ssm).toMatchObject({ name: 'ThrottlingException', status: 400, attempts: 2 });
    await new EC2Client(config('node1')).send(new DescribeInstancesCommand({}));
  });

  it("answers one host's calls with server errors (5xx) while the others go through", async () => {
    await control.set('node2', { errorRate: 1 });
    expect(await failure(put('node2', 2))).toMatchObject({ name: 'InternalServerError', status: 500, attempts: 2 });
    expect(await failure(new EC2Client(config('node2')).send(new DescribeInstancesCommand({})))).toMatchObject({ name: 'InternalError', status: 500 });
    await put('node1');
  });

  it("delays one host's calls by the latency set for it", async () => {
    await control.set('node2', { latencyMs: 700 });
    const started = Date.now();
    await put('node2');
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect((await control.status()).node2?.counters.delayed).toBe(1);
  });

  it('holds every call of a blackholed host unanswered until the blackhole ends', async () => {
    await control.set('node1', { blackhole: true });
    const client = new DynamoDBClient(config('node1'));
    const held = await failure(client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'x' } } }), { abortSignal: AbortSignal.timeout(1500) }));
    expect(held.name).toMatch(/Abort|Timeout/);
    await put('node2');
    await control.set('node1', {});
    await put('node1');
    expect((await control.status()).node1?.counters.blackholed).toBe(1);
  });

  it('refuses bad faults with every problem named, and changes nothing', async () => {
    await control.set('node1', { latencyMs: 50 });
    await expect(control.set('node1', { errorRate: 2, latencyMs: -1, bogus: true } as never)).rejects.toThrow(/unknown key "bogus".*latencyMs must be.*errorRate must be/);
    await expect(control.set('node9', {})).rejects.toThrow(/no route "node9"/);
    expect((await control.status()).node1?.faults).toEqual({ latencyMs: 50 });
  });

  it('counts the operations each route forwards, by service and action', async () => {
    const before = await control.status();
    await put('node1');
    await new EC2Client(config('node2')).send(new DescribeInstancesCommand({}));
    const after = await control.status();
    const delta = (route: string, op: string): number => (after[route]?.operations[op] ?? 0) - (before[route]?.operations[op] ?? 0);
    expect(delta('node1', 'dynamodb:PutItem')).toBe(1);
    expect(delta('node2', 'ec2:DescribeInstances')).toBe(1);
    expect(delta('node2', 'dynamodb:PutItem')).toBe(0);
  });

  it('answers a waiting GET /changes as soon as an Elastic IP association went through it, and not for a failed one', async () => {
    const ec2 = new EC2Client(config('controller'));
    const imageId = (await ec2.send(new DescribeImagesCommand({}))).Images?.[0]?.ImageId as string;
    const instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }))).Instances?.[0]?.InstanceId as string;
    const allocationId = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId as string;
    const seen = await control.changes(-1, 0);

    const failed = await failure(ec2.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: 'i-00000000000000000' })));
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(await control.changes(-1, 0)).toBe(seen);

    const waiting = control.changes(seen, 30_000);
    await ec2.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId }));
    expect(await waiting).toBe(seen + 1);
  });

  it('refuses a /changes request whose numbers are not integers', async () => {
    await expect(control.changes(Number.NaN, 0)).rejects.toThrow(/after and wait must be integers/);
  });
});

describe('the AWS proxy with a latency profile', () => {
  it("adds the service's latency to every request of that service on every route, and none to the others", async () => {
    const port = await freePort();
    const proxy = new AwsFaultProxy({ upstream: moto.endpoint, listenHost: '127.0.0.1', routes: { node1: port }, serviceLatency: { dynamodb: { ms: 800, jitterMs: 0 } } });
    await proxy.start();
    try {
      const endpoint = { ...moto.clientConfig, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 };
      const started = Date.now();
      await new DynamoDBClient(endpoint).send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'x' } } }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(800);
      await new EC2Client(endpoint).send(new DescribeInstancesCommand({}));
      // The profile's latency is not a fault: the fault counters stay as they were.
      expect(proxy.status().node1?.counters).toMatchObject({ forwarded: 2, delayed: 0 });
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a bad --service-latency and exits with status 2', async () => {
    const entry = sandboxEntry('aws-proxy-main', ['--upstream', moto.endpoint, '--listen', '127.0.0.1', '--socket', join(dir, 'bad.sock'), '--route', `node1=${await freePort()}`, '--service-latency', '{"ec2":{"ms":-5,"jitterMs":0}}']);
    const child = spawn(entry.command, entry.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/bad --service-latency: ec2: expected/);
  });
});
