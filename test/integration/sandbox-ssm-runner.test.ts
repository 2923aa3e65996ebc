import { chmodSync, existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostAction } from '../../core/ports.js';
import { commandDocuments } from '../../infra/ssm-documents.js';
import { SandboxNetwork } from '../../sandbox/netns.js';
import { SandboxHostCommands, SandboxInstanceFencer, documentsFromSsm, type RunnerTarget } from '../../sandbox/ssm-runner.js';
import { Supervisor, procStartTime } from '../../sandbox/supervisor.js';
import { startMoto, type Moto } from '../support/moto.js';

// The scripts run as the postgres user, so the directory must be readable by it.
const dir = mkdtempSync(join(tmpdir(), 'pgv-ssm-'));
chmodSync(dir, 0o755);
const postgres = { uid: 101, gid: 104 };
let network: SandboxNetwork;
let supervisor: Supervisor;
let moto: Moto;

/**
 * A stand-in for pgvigil-agent (the runner is under test, not the agent): prints its arguments, its
 * uid and network namespace, and exits with the code in `exit-code` (after sleeping `sleep` seconds).
 */
const agent = join(dir, 'fake-agent');
writeFileSync(
  agent,
  `#!/bin/sh
echo "agent $*"
echo "uid=$(id -u) netns=$(readlink /proc/self/ns/net)"
echo "a warning on stderr" >&2
sleep "$(cat ${dir}/sleep 2>/dev/null || echo 0)"
exit "$(cat ${dir}/exit-code 2>/dev/null || echo 0)"
`,
  { mode: 0o755 },
);
const configFile = join(dir, 'repmgr.conf');
writeFileSync(configFile, "node_id=1\nnode_name='node1'\ncluster_id=main\n", { mode: 0o644 });
const documents = Object.fromEntries(Object.values(commandDocuments({ agentCommand: agent })).map((d) => [d.name, d.content]));
const target: RunnerTarget = { host: 'node1', configFile, ...postgres };

function runner(overrides: Partial<ConstructorParameters<typeof SandboxHostCommands>[0]> = {}): SandboxHostCommands {
  return new SandboxHostCommands({
    network,
    documents,
    dir,
    targets: (id) => (id === 'i-node1' ? target : undefined),
    isStopped: (host) => supervisor.isHostDown(host),
    ...overrides,
  });
}

const follow: HostAction = { action: 'follow', clusterId: 'main', nodeId: 1, term: 7, upstreamNodeId: 2 };

beforeAll(async () => {
  network = await SandboxNetwork.create({ dir: join(dir, 'sandbox') });
  await network.addHost('node1');
  supervisor = new Supervisor(join(dir, 'sandbox'), network);
  moto = await startMoto();
});

afterAll(async () => {
  await supervisor?.stopAll(2000);
  await network?.destroy();
  await moto?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function setExit(code: number, sleepSecs = 0): void {
  writeFileSync(join(dir, 'exit-code'), String(code));
  writeFileSync(join(dir, 'sleep'), String(sleepSecs));
}

describe('SandboxHostCommands', () => {
  it('runs the document on the target host as its user with the parameters substituted', async () => {
    setExit(0);
    const commands = runner();
    const id = await commands.send('i-node1', follow);
    const result = await commands.wait(id, 'i-node1', 20_000);
    expect(result.status).toBe('Success');
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain(`agent follow -f ${configFile} --term 7 --upstream-node-id 2`);
    expect(result.output).toContain('uid=101');
    expect(result.output).toContain('a warning on stderr');
    // In the host's own network namespace, not this process's.
    const here = `netns=${readlinkSync('/proc/self/ns/net')}`;
    if (network.mode === 'netns') expect(result.output).not.toContain(here);
    else expect(result.output).toContain(here);
    expect(commands.history()).toMatchObject([{ document: 'pgvigil-Follow', host: 'node1', parameters: { Term: '7', UpstreamNodeId: '2' } }]);
  });

  it("reports a failing command's real exit code and output", async () => {
    setExit(25);
    const commands = runner();
    const result = await commands.wait(await commands.send('i-node1', { action: 'promote', clusterId: 'main', nodeId: 1, term: 3 }), 'i-node1', 20_000);
    expect(result).toMatchObject({ status: 'Failed', exitCode: 25 });
    expect(result.output).toContain('agent promote');
  });

  it('rejects a parameter that fails its allowedPattern without running anything', async () => {
    setExit(0);
    const marker = join(dir, 'pwned');
    const commands = runner();
    await expect(
      commands.send('i-node1', { action: 'fence', clusterId: `main';touch ${marker};'`, nodeId: 1, term: 3 }),
    ).rejects.toMatchObject({ code: 'BAD_INPUT', detail: expect.stringMatching(/ClusterId: .* does not match/) });
    await expect(commands.send('i-node1', { action: 'fence', clusterId: 'main', nodeId: 1, term: -1 })).rejects.toMatchObject({
      detail: expect.stringMatching(/Term: "-1" does not match/),
    });
    // The deployed document's own patterns are checked too (here one stricter than the controller's).
    const strict = structuredClone(documents);
    const fence = strict['pgvigil-Fence'];
    if (!fence?.parameters.ClusterId) throw new Error('no Fence document');
    fence.parameters.ClusterId.allowedPattern = '^[a-z]+$';
    await expect(runner({ documents: strict }).send('i-node1', { action: 'fence', clusterId: 'Main1', nodeId: 1, term: 3 })).rejects.toThrow(
      /parameter ClusterId value "Main1" does not match \^\[a-z\]\+\$/,
    );
    expect(commands.history()).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses through the document's own guard when the host's config names another node", async () => {
    setExit(0);
    const commands = runner();
    const result = await commands.wait(await commands.send('i-node1', { ...follow, nodeId: 2 }), 'i-node1', 20_000);
    expect(result).toMatchObject({ status: 'Failed', exitCode: 1 });
    expect(result.output).toContain('the command was meant for node_id 2');
    expect(result.output).not.toContain('agent follow');
  });

  it('reports TimedOut when the command outlives its timeout, and when the caller stops waiting first', async () => {
    setExit(0, 30);
    const commands = runner({ commandTimeoutMs: 1500 });
    const id = await commands.send('i-node1', follow);
    expect(await commands.wait(id, 'i-node1', 200)).toMatchObject({ status: 'TimedOut', exitCode: null, output: expect.stringContaining('InProgress') });
    expect(await commands.wait(id, 'i-node1', 20_000)).toMatchObject({ status: 'TimedOut', exitCode: null });
    setExit(0);
  });

  it('delivers a command to a cut-off host only when its network returns', async () => {
    if (network.mode !== 'netns') return; // partitions need namespaces
    setExit(0);
    const commands = runner();
    await network.cut('node1');
    const id = await commands.send('i-node1', follow);
    expect((await commands.wait(id, 'i-node1', 500)).status).toBe('TimedOut');
    expect(commands.history()[0]?.startedAt).toBeNull();
    await network.restore('node1');
    expect((await commands.wait(id, 'i-node1', 20_000)).status).toBe('Success');
  });

  it('reports Undeliverable for a stopped host and refuses an unknown instance', async () => {
    const commands = runner({ isStopped: () => true });
    expect(await commands.wait(await commands.send('i-node1', follow), 'i-node1', 5000)).toMatchObject({ status: 'Undeliverable' });
    await expect(runner().send('i-other', follow)).rejects.toThrow(/i-other/);
  });

  it('runs the documents as deployed into emulated SSM', async () => {
    const ssm = new SSMClient(moto.clientConfig);
    for (const [name, content] of Object.entries(documents)) {
      await ssm.send(new CreateDocumentCommand({ Name: name, Content: JSON.stringify(content), DocumentType: 'Command', DocumentFormat: 'JSON' }));
    }
    const deployed = await documentsFromSsm(ssm);
    expect(deployed).toEqual(documents);
    setExit(0);
    const commands = runner({ documents: deployed });
    expect((await commands.wait(await commands.send('i-node1', follow), 'i-node1', 20_000)).status).toBe('Success');
    ssm.destroy();
  });
});

describe('SandboxInstanceFencer', () => {
  it('kills every process of the host and stops the emulated instance', async () => {
    const ec2 = new EC2Client(moto.clientConfig);
    const imageId = (await ec2.send(new DescribeImagesCommand({}))).Images?.[0]?.ImageId as string;
    const instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }))).Instances?.[0]?.InstanceId as string;
    const agentProcess = supervisor.start({ host: 'node1', name: 'agent', command: 'sleep', args: ['300'], restart: true, restartDelayMs: 50 });
    const fencer = new SandboxInstanceFencer(supervisor, (id) => (id === instanceId ? 'node1' : undefined), ec2);
    await fencer.stop(instanceId);
    expect(procStartTime(agentProcess.pid as number)).toBeNull();
    expect(supervisor.isHostDown('node1')).toBe(true);
    const state = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
    expect(['stopping', 'stopped']).toContain(state);
    await expect(fencer.stop('i-unknown')).rejects.toThrow(/i-unknown/);
    ec2.destroy();
  });
});
