/**
 * The example stack's hosts boot as a user's would (docs/deploy.md, "The boot test"): the stack is
 * synthesized and deployed into the emulator (its host package uploaded as the CDK asset), and the
 * user data the emulator holds for the primary, a standby and the witness runs for real, as root,
 * on network-namespace hosts with their instance's address and an instance metadata service, and
 * without internet. Only what cannot run here is a shim (test/support/boot-host/): dnf installs from
 * this machine, systemctl runs the units' own Exec lines, sudo, and the AWS CLI's two calls.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { ARTIFACTS, builtArtifact, packageRoot } from '../../build/artifacts.js';
import { POSTGRESQL_DROP_IN, SYSTEMD_UNIT } from '../../build/host-package.js';
import type { ClusterSnapshot, Heartbeat } from '../../core/model.js';
import { deployStackToEmulator } from '../../sandbox/deploy-to-emulator.js';
import { PgvigilExampleStack } from '../../infra/example-stack.js';
import { BootHosts, type BootInstance, type BootedHost } from '../support/boot-host.js';
import { startMoto, type Moto } from '../support/moto.js';

const STACK = 'pgvigil-boot';
const CLUSTER = 'boot';
/** The hosts booted: node 3 (a second standby) adds nothing the first does not show. */
const BOOTED = { primary: 'pg1', standby: 'pg2', witness: 'witness4' } as const;

let parent: string;
let hosts: BootHosts;
let moto: Moto;
let dynamo: DynamoDBClient;
let store: DynamoStateStore;
let tableName: string;
const booted: Record<string, BootedHost> = {};

const diagnostics = (): string => Object.values(booted).map((h) => h.diagnostics()).join('\n');

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms\n${diagnostics()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The stack's instances in the emulator, by host name (its Name tag's last part), with their user data. */
async function instances(): Promise<Map<string, BootInstance>> {
  const ec2 = new EC2Client(moto.clientConfig);
  try {
    const described = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:pgvigil:cluster', Values: [CLUSTER] }] }));
    const found = new Map<string, BootInstance>();
    for (const instance of described.Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
      const name = instance.Tags?.find((t) => t.Key === 'Name')?.Value?.replace(`pgvigil-${CLUSTER}-`, '');
      const attribute = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instance.InstanceId, Attribute: 'userData' }));
      if (!name || !instance.InstanceId || !instance.PrivateIpAddress || !instance.Placement?.AvailabilityZone || !attribute.UserData?.Value) {
        throw new Error(`the emulator describes an incomplete instance: ${JSON.stringify(instance)}`);
      }
      found.set(name, {
        name,
        instanceId: instance.InstanceId,
        privateIp: instance.PrivateIpAddress,
        availabilityZone: instance.Placement.AvailabilityZone,
        region: moto.clientConfig.region,
        userData: Buffer.from(attribute.UserData.Value, 'base64').toString('utf8'),
      });
    }
    return found;
  } finally {
    ec2.destroy();
  }
}

async function snapshot(): Promise<ClusterSnapshot | undefined> {
  return (await store.load(CLUSTER))?.snapshot;
}

const heartbeatOf = (s: ClusterSnapshot | undefined, nodeId: number): Heartbeat | undefined => s?.heartbeats.find((h) => h.node_id === nodeId);

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'pgv-boot-'));
  hosts = await BootHosts.create(parent);
  moto = await startMoto({ host: hosts.gateway });
  // The load balancer is left out: moto's CloudFormation refuses its TCP listeners. The private
  // layout stays (the Route 53 route): isolated subnets, no internet, VPC endpoints.
  const deployed = await deployStackToEmulator(moto.clientConfig, STACK, (app, synthesizer) => new PgvigilExampleStack(app, STACK, { synthesizer, clusterId: CLUSTER, loadBalancer: false }));
  tableName = deployed.outputs.TableName as string;
  dynamo = new DynamoDBClient(moto.clientConfig);
  store = new DynamoStateStore(dynamo, tableName);
  const all = await instances();
  for (const name of Object.values(BOOTED)) {
    const instance = all.get(name);
    if (!instance) throw new Error(`the emulator has no instance named pgvigil-${CLUSTER}-${name} (it has ${[...all.keys()].join(', ')})`);
    booted[name] = await hosts.boot(instance, moto.endpoint);
  }
  // The standby and the witness wait for the primary by themselves, as on EC2.
  const codes = await Promise.race([
    Promise.all(Object.values(booted).map((h) => h.finished)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the boots did not finish within 240 s\n${diagnostics()}`)), 240_000)),
  ]);
  if (codes.some((c) => c !== 0)) throw new Error(`a boot failed (exit codes ${codes.join(', ')})\n${diagnostics()}`);
}, 420_000);

afterAll(async () => {
  dynamo?.destroy();
  await hosts?.destroy();
  await moto?.stop();
  if (parent) rmSync(parent, { recursive: true, force: true });
});

describe('the example stack’s hosts, booted from their user data', () => {
  it('run the agent bundle of the host package the stack uploads as its asset, unchanged', () => {
    const shipped = readFileSync(builtArtifact(ARTIFACTS.agent), 'utf8');
    for (const host of Object.values(booted)) expect(host.file(`opt/pgvigil/${ARTIFACTS.agent}`) === shipped, host.instance.name).toBe(true);
  });

  it('start the agent from the unit’s own ExecStart line, and it reports READY to systemd', () => {
    const unit = readFileSync(join(packageRoot(), SYSTEMD_UNIT), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ');
    expect(execStart?.slice(-4)).toEqual([`/opt/pgvigil/${ARTIFACTS.agent}`, 'run', '-f', '/etc/pgvigil/repmgr.conf']);
    for (const host of Object.values(booted)) {
      const events = host.unitEvents().filter((e) => e.unit === 'pgvigil-agent.service');
      expect(events.map((e) => e.event), `${host.instance.name}\n${host.diagnostics()}`).toEqual(['started', 'ready']);
      expect(events[0]?.argv).toEqual(execStart);
      expect(host.link('etc/systemd/system/multi-user.target.wants/pgvigil-agent.service')).toBe('/etc/systemd/system/pgvigil-agent.service');
    }
  });

  it('start PostgreSQL through its unit with the boot guard’s ExecStartPre run first, on the primary and the standby', () => {
    const dropIn = readFileSync(join(packageRoot(), POSTGRESQL_DROP_IN), 'utf8');
    const guard = /^ExecStartPre=(.*)$/m.exec(dropIn)?.[1]?.split(' ');
    expect(guard).toContain('startup');
    for (const name of [BOOTED.primary, BOOTED.standby]) {
      const events = booted[name]!.unitEvents().filter((e) => e.unit === 'postgresql.service');
      expect(events.map((e) => [e.event, e.argv?.slice(0, 4), e.code]), name).toEqual([
        ['ran', guard?.slice(0, 4), 0],
        ['ran', ['/usr/bin/pg_ctl', 'start', '-D', '/var/lib/pgsql/data'], 0],
        ['active', undefined, undefined],
      ]);
      expect(events[0]?.argv).toEqual(guard);
    }
    expect(booted[BOOTED.witness]!.unitEvents().some((e) => e.unit === 'postgresql.service')).toBe(false);
  });

  it('register a primary, a cloned standby following it and a witness, each with its instance id and zone', async () => {
    const s = await snapshot();
    expect(s?.cluster).toMatchObject({ cluster_id: CLUSTER, primary_node_id: 1 });
    const nodes = s?.nodes.map((n) => [n.node_name, n.type, n.upstream_node_id, n.instance_id, n.location]).sort();
    expect(nodes).toEqual(
      [booted[BOOTED.primary]!, booted[BOOTED.standby]!, booted[BOOTED.witness]!]
        .map((h) => [h.instance.name, h.instance.name === BOOTED.primary ? 'primary' : h.instance.name === BOOTED.standby ? 'standby' : 'witness', h.instance.name === BOOTED.primary ? null : 1, h.instance.instanceId, h.instance.availabilityZone])
        .sort(),
    );
  });

  it('all report healthy heartbeats: a writable primary holding the lease, a standby streaming from it, the witness', async () => {
    const first = await snapshot();
    await until(
      'newer heartbeats from all three agents',
      async () => {
        const now = await snapshot();
        return [1, 2, 4].every((id) => (heartbeatOf(now, id)?.seq ?? -1) > (heartbeatOf(first, id)?.seq ?? -1));
      },
      60_000,
    );
    await until(
      'a streaming standby',
      async () => heartbeatOf(await snapshot(), 2)?.server?.wal_receiver_status === 'streaming',
      60_000,
    );
    const s = await snapshot();
    expect(heartbeatOf(s, 1)?.server).toMatchObject({ postmaster_running: true, accepting_connections: true, in_recovery: false, fenced: false, data_directory_writable: true });
    expect(heartbeatOf(s, 2)?.server).toMatchObject({ accepting_connections: true, in_recovery: true, fenced: false, wal_receiver_upstream_node_id: 1 });
    expect(heartbeatOf(s, 2)?.server?.system_identifier).toBe(heartbeatOf(s, 1)?.server?.system_identifier);
    expect(heartbeatOf(s, 4)?.server).toBeNull();
    expect(s?.cluster.lease?.holder_node_id).toBe(1);
    expect(heartbeatOf(s, 1)?.server?.replication.length).toBe(1);
  });

  it('need nothing from the internet: they have no route to it, every package comes from the distribution and the boot logs no error', async () => {
    for (const host of Object.values(booted)) {
      expect((await hosts.network.exec(host.instance.name, 'ip', ['route', 'show', 'default'])).stdout.trim(), host.instance.name).toBe('');
      expect(host.file('var/log/dnf.log')?.split('\n').filter(Boolean).sort()).toEqual(
        ['installed nodejs22', 'installed postgresql15', 'installed postgresql15-contrib', 'installed postgresql15-server', 'installed unzip'],
      );
      expect(host.file('var/log/pgvigil-bootstrap.log') ?? '').not.toMatch(/ERROR|command not found|No such file/);
    }
    // The standby's clone asks the idle new primary for an immediate checkpoint (a spread one waits minutes).
    expect(booted[BOOTED.standby]!.file('var/log/pgvigil-bootstrap.log')).not.toContain('consider using the -c/--fast-checkpoint option');
  });
});
