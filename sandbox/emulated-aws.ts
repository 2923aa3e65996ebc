/**
 * The sandbox's emulated AWS (docs/sandbox.md): moto in server mode, the AWS proxy in front of it (a
 * route per host and one for the control plane, where faults are injected), the EC2 instances of the
 * hosts, and the deployed SSM Command documents read back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeImagesCommand, RunInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { PgvigilError } from '../core/errors.js';
import { commandDocuments, type CommandDocumentContent } from '../infra/ssm-documents.js';
import { AwsProxyControl } from './aws-proxy.js';
import { sandboxEntry } from './entry-points.js';
import type { LatencyProfile } from './latency.js';
import { motoServerArgs } from './moto-server.js';
import { ROOT_HOST } from './netns.js';
import { freePort } from './ports.js';
import { documentsFromSsm } from './ssm-runner.js';
import type { Supervisor } from './supervisor.js';

export const SANDBOX_REGION = 'us-east-1';
export const SANDBOX_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
/** The AWS proxy's route of the control plane (the controller and the switchover function). */
export const CONTROL_PLANE_ROUTE = 'controller';
const AWS_PROXY_PROCESS = 'aws-proxy';

/** SDK client settings against the emulator (straight, or through a route of the AWS proxy). */
export interface EmulatorClientConfig {
  endpoint: string;
  region: string;
  credentials: typeof SANDBOX_CREDENTIALS;
}

/**
 * Starts moto on the gateway under the supervisor and waits until it answers. Returns its endpoint
 * and the port of 127.0.0.1 where the switchover function must listen: chosen before moto starts,
 * as its SSM Automation invokes the function there (sandbox/moto_automation.py).
 */
export async function startMoto(supervisor: Supervisor, host: string): Promise<{ endpoint: string; switchoverPort: number }> {
  const port = await freePort(host);
  const switchoverPort = await freePort('127.0.0.1');
  supervisor.start({
    host: ROOT_HOST,
    name: 'moto',
    command: 'python3',
    args: motoServerArgs(host, port),
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true', PGVIGIL_AUTOMATION_LAMBDA_ENDPOINT: `http://127.0.0.1:${switchoverPort}` },
  });
  const endpoint = `http://${host}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok || res.status === 404) return { endpoint, switchoverPort };
    } catch {
      // not listening yet
    }
    const moto = supervisor.status().find((s) => s.name === 'moto');
    if (!moto?.running) throw new PgvigilError('SYS_FAILURE', 'moto exited while starting', { detail: `see ${moto?.log ?? 'its log'}` });
    if (Date.now() > deadline) throw new PgvigilError('SYS_FAILURE', `moto did not answer on ${endpoint} within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts the AWS proxy process (restarted if it dies) with one listener per route on `host`, and
 * waits until its control socket answers. Returns the control, its socket and each route's endpoint.
 */
export async function startAwsProxy(
  supervisor: Supervisor,
  options: { host: string; dir: string; upstream: string; routes: string[]; latency: LatencyProfile },
): Promise<{ control: AwsProxyControl; socket: string; endpoints: Record<string, string> }> {
  const { host, routes } = options;
  const ports: Record<string, number> = {};
  for (const route of routes) ports[route] = await freePort(host);
  const socket = join(options.dir, 'aws-proxy.sock');
  const latency = Object.keys(options.latency.services).length > 0 ? ['--service-latency', JSON.stringify(options.latency.services)] : [];
  const entry = sandboxEntry('aws-proxy-main', ['--upstream', options.upstream, '--listen', host, '--socket', socket, ...routes.flatMap((r) => ['--route', `${r}=${ports[r]}`]), ...latency]);
  supervisor.start({ host: ROOT_HOST, name: AWS_PROXY_PROCESS, command: entry.command, args: entry.args, env: process.env, restart: true, restartDelayMs: 200 });
  const control = new AwsProxyControl(socket);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (existsSync(socket) && (await control.status().then(() => true, () => false))) break;
    const proxy = supervisor.status().find((s) => s.name === AWS_PROXY_PROCESS);
    if (Date.now() > deadline) throw new PgvigilError('SYS_FAILURE', 'the AWS proxy did not start within 60 s', { detail: `see ${proxy?.log ?? 'its log'}` });
    await new Promise((r) => setTimeout(r, 200));
  }
  return { control, socket, endpoints: Object.fromEntries(routes.map((r) => [r, `http://${host}:${ports[r]}`])) };
}

/** One emulated EC2 instance per host, tagged with the cluster; node name → instance id. */
export async function runInstances(ec2: EC2Client, clusterId: string, names: string[]): Promise<Record<string, string>> {
  const imageId = (await ec2.send(new DescribeImagesCommand({}))).Images?.[0]?.ImageId;
  if (!imageId) throw new PgvigilError('INTERNAL', 'the emulator offers no machine image');
  const instances: Record<string, string> = {};
  for (const name of names) {
    const result = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: name }, { Key: 'pgvigil:cluster', Value: clusterId }] },
        ],
      }),
    );
    const id = result.Instances?.[0]?.InstanceId;
    if (!id) throw new PgvigilError('INTERNAL', `RunInstances returned no instance for ${name}`);
    instances[name] = id;
  }
  return instances;
}

/**
 * The deployed Command documents, read back from emulated SSM. moto's CloudFormation stores a
 * document whose Content is a JSON object as the text "[object Object]"; then the same data the
 * stack was synthesized from (infra/ssm-documents.ts) is used, and `say` tells so.
 */
export async function deployedCommandDocuments(
  clientConfig: EmulatorClientConfig,
  documentPrefix: string,
  say: (line: string) => void,
): Promise<Record<string, CommandDocumentContent>> {
  const ssm = new SSMClient(clientConfig);
  try {
    return await documentsFromSsm(ssm, documentPrefix);
  } catch (error) {
    if (!(error instanceof PgvigilError) || error.code !== 'BAD_INPUT') throw error;
    say(`SSM: ${error.message} (${error.detail ?? ''}: a moto limitation); running the documents' source data instead`);
    const docs = commandDocuments({ prefix: documentPrefix });
    return Object.fromEntries(Object.values(docs).map((d) => [d.name, d.content]));
  } finally {
    ssm.destroy();
  }
}
