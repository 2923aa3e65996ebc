import { AllocateAddressCommand, AssociateAddressCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2VipMover } from '../../adapters/ec2-vip.js';
import { VipProxy, elasticIpResolver, type VipTarget } from '../../sandbox/vip.js';
import { openConnection, request, startEchoServer, type EchoServer } from '../support/echo.js';
import { startMoto, type Moto } from '../support/moto.js';

let moto: Moto;
let ec2: EC2Client;
let a: EchoServer;
let b: EchoServer;
let instanceA: string;
let instanceB: string;
let allocationId: string;
const proxies: VipProxy[] = [];

beforeAll(async () => {
  moto = await startMoto();
  ec2 = new EC2Client(moto.clientConfig);
  a = await startEchoServer('A');
  b = await startEchoServer('B');
  const images = await ec2.send(new DescribeImagesCommand({}));
  const imageId = images.Images?.[0]?.ImageId as string;
  const run = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 2, MaxCount: 2, InstanceType: 't3.micro' }));
  [instanceA, instanceB] = (run.Instances ?? []).map((i) => i.InstanceId as string) as [string, string];
  allocationId = (await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }))).AllocationId as string;
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  await a?.close();
  await b?.close();
  ec2?.destroy();
  await moto?.stop();
});

function targets(instanceId: string): VipTarget | undefined {
  if (instanceId === instanceA) return { host: '127.0.0.1', port: a.port };
  if (instanceId === instanceB) return { host: '127.0.0.1', port: b.port };
  return undefined;
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
      if (accept(value)) return value;
    } catch {
      // retry
    }
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms (last: ${String(value)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Ec2VipMover against moto', () => {
  it('moves an associated Elastic IP to another instance (AllowReassociation) and detaches it idempotently', async () => {
    const mover = new Ec2VipMover(ec2);
    await mover.moveTo(allocationId, instanceA);
    expect(await mover.current(allocationId)).toBe(instanceA);
    await mover.moveTo(allocationId, instanceB);
    expect(await mover.current(allocationId)).toBe(instanceB);
    await mover.detach(allocationId);
    expect(await mover.current(allocationId)).toBeNull();
    await mover.detach(allocationId);
    await expect(mover.current('eipalloc-0000000000000000')).rejects.toThrow(/eipalloc-0000000000000000/);
  });
});

describe('VipProxy', () => {
  it('follows a moto Elastic IP re-association and cuts connections to the old target', async () => {
    const mover = new Ec2VipMover(ec2);
    await mover.moveTo(allocationId, instanceA);
    const moves: string[] = [];
    const proxy = new VipProxy({
      resolve: elasticIpResolver(mover, allocationId, targets),
      listenPort: 0,
      pollIntervalMs: 100,
      onMove: (from, to, cut) => moves.push(`${from?.instanceId ?? '-'}>${to?.instanceId ?? '-'} cut ${cut}`),
    });
    proxies.push(proxy);
    await proxy.start();
    expect(proxy.target?.instanceId).toBe(instanceA);

    const held = await openConnection('127.0.0.1', proxy.port);
    expect(await held.ask('hello')).toBe('A:hello');
    expect(await request('127.0.0.1', proxy.port)).toBe('A:ping');

    // The controller moves the address through the plain EC2 API; nobody tells the proxy.
    await new EC2Client(moto.clientConfig).send(
      new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceB, AllowReassociation: true }),
    );
    await held.closed; // cut, not left writing to the old target
    expect(a.sockets.size).toBe(0);
    expect(await eventually(() => request('127.0.0.1', proxy.port), (r) => r === 'B:ping')).toBe('B:ping');
    expect(moves).toEqual([`->${instanceA} cut 0`, `${instanceA}>${instanceB} cut 1`]);

    // Detached: nothing answers on the address, and open connections are cut.
    const second = await openConnection('127.0.0.1', proxy.port);
    expect(await second.ask('x')).toBe('B:x');
    await mover.detach(allocationId);
    await second.closed;
    await expect(request('127.0.0.1', proxy.port, 'ping', 1000)).rejects.toThrow();
    expect(proxy.target).toBeNull();
  });

  it('keeps the last known target when the emulator cannot be read', async () => {
    let fail = false;
    const errors: unknown[] = [];
    const proxy = new VipProxy({
      resolve: async () => {
        if (fail) throw new Error('moto unreachable');
        return { host: '127.0.0.1', port: a.port };
      },
      listenPort: 0,
      pollIntervalMs: 50,
      onError: (e) => errors.push(e),
    });
    proxies.push(proxy);
    await proxy.start();
    const held = await openConnection('127.0.0.1', proxy.port);
    fail = true;
    await proxy.refresh();
    expect(errors.length).toBeGreaterThan(0);
    expect(await held.ask('still')).toBe('A:still');
    await proxy.stop();
    await held.closed;
  });

  it('with a follow delay (the aws latency profile), keeps traffic on the old target until the delay has passed', async () => {
    let current: VipTarget = { host: '127.0.0.1', port: a.port, instanceId: 'i-a' };
    const moves: number[] = [];
    const proxy = new VipProxy({
      resolve: async () => current,
      listenPort: 0,
      pollIntervalMs: 600_000, // only refresh() reads
      followDelayMs: () => 3000,
      onMove: () => moves.push(Date.now()),
    });
    proxies.push(proxy);
    await proxy.start();
    expect(proxy.target?.port).toBe(a.port); // where it starts is applied at once
    const held = await openConnection('127.0.0.1', proxy.port);

    current = { host: '127.0.0.1', port: b.port, instanceId: 'i-b' };
    const seen = Date.now();
    await proxy.refresh();
    await proxy.refresh(); // seen again while pending: the delay does not start over
    if (Date.now() - seen < 2500) {
      expect(await held.ask('old')).toBe('A:old'); // not cut yet
      expect(proxy.target?.port).toBe(a.port);
    }
    await held.closed;
    expect(await eventually(() => request('127.0.0.1', proxy.port), (r) => r === 'B:ping', 10_000)).toBe('B:ping');
    expect(moves.length).toBe(2);
    expect((moves[1] as number) - seen).toBeGreaterThanOrEqual(2900);
    await proxy.stop();
  });

  it('says which port is taken when it cannot listen', async () => {
    const first = new VipProxy({ resolve: async () => null, listenPort: 0 });
    proxies.push(first);
    await first.start();
    const second = new VipProxy({ resolve: async () => null, listenPort: first.port });
    await expect(second.start()).rejects.toThrow(new RegExp(`127.0.0.1:${first.port}`));
    await second.stop();
  });
});
