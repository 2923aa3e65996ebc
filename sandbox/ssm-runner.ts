/**
 * SSM Run Command in the sandbox (docs/sandbox.md, docs/deploy.md: moto's SendCommand runs nothing and always reports
 * Success). Given the Command document's content — the same data the CDK stack deploys, or read
 * back from the emulator with {@link documentsFromSsm} — and a host action, it does what SSM and its
 * agent do: checks every parameter against its `allowedPattern` (a bad one is refused before
 * anything runs, like SSM's InvalidParameters), substitutes `{{Param}}`, runs the script on the
 * target host (in its network namespace, as the configured user) and reports the real exit code and
 * output, with the document's timeout → TimedOut.
 *
 * Delivery follows the host's state: a host that is cut off gets the command when its network
 * returns (within the command timeout); a stopped host (killHost) is Undeliverable. With a latency
 * profile (sandbox/latency.ts), delivery takes what SSM's takes (`deliveryDelayMs`: SendCommand to
 * the script starting on the host) and the result shows in GetCommandInvocation only after
 * `statusDelayMs` (the agent reports it, the service records it).
 *
 * Also {@link SandboxInstanceFencer}: the sandbox's EC2 StopInstances (every process of the host dies).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync, chownSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { StartInstancesCommand, StopInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { PgvigilError } from '../core/errors.js';
import type { HostAction, HostCommandResult, HostCommands, InstanceFencer } from '../core/ports.js';
import { ssmDocumentName, ssmParameters } from '../core/ssm-parameters.js';
import { SSM_ACTIONS, documentName, renderCommandScript, type CommandDocumentContent } from '../infra/ssm-documents.js';
import type { SandboxNetwork } from './netns.js';
import type { Supervisor } from './supervisor.js';

/** What the runner needs to know about the instance a command is sent to. */
export interface RunnerTarget {
  /** The sandbox host (network name). */
  host: string;
  /** Value of the ConfigFile parameter (the host's repmgr.conf). */
  configFile: string;
  /** The user the document's script runs as (SSM runs as root; the sandbox's agent runs as postgres). */
  uid?: number;
  gid?: number;
  /** The script's environment on this host (its own route to AWS); else {@link SandboxHostCommandsOptions.env}. */
  env?: NodeJS.ProcessEnv;
}

export interface SandboxHostCommandsOptions {
  network: SandboxNetwork;
  /** Document content by document name (`<prefix>-<Action>`). */
  documents: Record<string, CommandDocumentContent>;
  /** @default 'pgvigil' */
  prefix?: string;
  /** Maps an instance id to its sandbox host; undefined = not a managed instance. */
  targets: (instanceId: string) => RunnerTarget | undefined;
  /** True when the host is stopped (e.g. `supervisor.isHostDown`). */
  isStopped?: (host: string) => boolean;
  /** True when the host's network is cut. @default network.isCut */
  isCut?: (host: string) => boolean;
  /** Environment of the script (PATH must find `pgvigil-agent`, AWS_ENDPOINT_URL …). */
  env?: NodeJS.ProcessEnv;
  /** Where scripts are written (`<dir>/ssm/<id>.sh`). */
  dir: string;
  /** Overrides the documents' `timeoutSeconds` (tests). */
  commandTimeoutMs?: number;
  /** How often an undelivered command checks whether its host is back. @default 100 */
  deliveryPollMs?: number;
  /** SendCommand → the script starts on a reachable host (drawn per command). @default none */
  deliveryDelayMs?: () => number;
  /** The script ended → `wait` sees its status (drawn per command). @default none */
  statusDelayMs?: () => number;
}

/** One command the runner accepted, for drills and tests. */
export interface RunnerCommand {
  id: string;
  instanceId: string;
  host: string;
  document: string;
  parameters: Record<string, string>;
  sentAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  result: HostCommandResult | null;
}

const MAX_OUTPUT = 24_000; // what GetCommandInvocation returns of each stream

/**
 * The SendCommand parameters of a host action, built and checked by the same code as the real SSM
 * adapter (core/ssm-parameters); the host's own config file stands in for the document default
 * (/etc/pgvigil/repmgr.conf), which does not exist in the sandbox.
 */
export function actionParameters(action: HostAction, hostConfigFile: string): Record<string, string> {
  const lists = ssmParameters({ ...action, configFile: action.configFile ?? hostConfigFile });
  return Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, v[0] ?? '']));
}

export class SandboxHostCommands implements HostCommands {
  private readonly commands = new Map<string, { command: RunnerCommand; done: Promise<HostCommandResult> }>();

  constructor(private readonly options: SandboxHostCommandsOptions) {}

  /** Every command accepted so far, oldest first. */
  history(): RunnerCommand[] {
    return [...this.commands.values()].map((c) => c.command);
  }

  async send(instanceId: string, action: HostAction): Promise<string> {
    const target = this.options.targets(instanceId);
    if (!target) {
      throw new PgvigilError('AWS', `could not send to instance ${instanceId}`, {
        detail: `InvalidInstanceId: instance ${instanceId} is not a managed instance of this sandbox`,
      });
    }
    const name = ssmDocumentName(this.options.prefix ?? 'pgvigil', action.action);
    const content = this.options.documents[name];
    if (!content) {
      throw new PgvigilError('AWS', `could not send ${name} to instance ${instanceId}`, { detail: `InvalidDocument: document ${name} does not exist` });
    }
    let script: string;
    let parameters: Record<string, string>;
    try {
      parameters = actionParameters(action, target.configFile);
      // Then what SSM itself does with the deployed document: its own allowedPatterns.
      script = renderCommandScript(content, parameters);
    } catch (error) {
      if (error instanceof PgvigilError) {
        throw new PgvigilError('BAD_INPUT', `could not send ${name} to instance ${instanceId}: ${error.message}`, { detail: error.detail, cause: error });
      }
      // SSM refuses the whole command (InvalidParameters): nothing runs anywhere.
      throw new PgvigilError('BAD_INPUT', `could not send ${name} to instance ${instanceId}: ${(error as Error).message}`, {
        detail: 'InvalidParameters',
      });
    }
    const id = randomUUID();
    const command: RunnerCommand = {
      id,
      instanceId,
      host: target.host,
      document: name,
      parameters,
      sentAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      result: null,
    };
    const timeoutMs = this.options.commandTimeoutMs ?? Number(content.mainSteps[0]?.inputs.timeoutSeconds ?? 600) * 1000;
    const done = this.execute(command, target, script, timeoutMs).then(async (result) => {
      command.finishedAt = Date.now();
      await sleepMs(this.options.statusDelayMs?.() ?? 0);
      command.result = result;
      return result;
    });
    this.commands.set(id, { command, done });
    return id;
  }

  private async execute(command: RunnerCommand, target: RunnerTarget, script: string, timeoutMs: number): Promise<HostCommandResult> {
    const deadline = command.sentAt + timeoutMs;
    await sleepMs(this.options.deliveryDelayMs?.() ?? 0);
    // Delivery: the host's SSM agent picks the command up when it can reach the service.
    for (;;) {
      if (this.options.isStopped?.(target.host)) return { status: 'Undeliverable', exitCode: null, output: `instance ${command.instanceId} is stopped` };
      if (!(this.options.isCut ? this.options.isCut(target.host) : this.options.network.isCut(target.host))) break;
      if (Date.now() >= deadline) return { status: 'TimedOut', exitCode: null, output: 'the command was not delivered: the instance is unreachable' };
      await new Promise((r) => setTimeout(r, this.options.deliveryPollMs ?? 100));
    }
    command.startedAt = Date.now();
    const dir = join(this.options.dir, 'ssm');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const file = join(dir, `${command.id}.sh`);
    writeFileSync(file, script, { mode: 0o500 });
    if (target.uid !== undefined) chownSync(file, target.uid, target.gid ?? -1);
    try {
      const run = await this.options.network.exec(target.host, '/bin/sh', [file], {
        ...(target.uid !== undefined ? { uid: target.uid } : {}),
        ...(target.gid !== undefined ? { gid: target.gid } : {}),
        env: target.env ?? this.options.env ?? process.env,
        cwd: '/',
        timeoutMs: Math.max(1, deadline - Date.now()),
        maxOutput: MAX_OUTPUT,
      });
      const output = [run.stdout, run.stderr].filter((s) => s.length > 0).join(run.stdout.endsWith('\n') || !run.stdout ? '' : '\n');
      if (run.timedOut) return { status: 'TimedOut', exitCode: null, output };
      if (run.code === 0) return { status: 'Success', exitCode: 0, output };
      return { status: 'Failed', exitCode: run.code, output: run.signal ? `${output}(killed by ${run.signal})\n` : output };
    } finally {
      rmSync(file, { force: true });
    }
  }

  async wait(commandId: string, instanceId: string, timeoutMs: number): Promise<HostCommandResult> {
    const entry = this.commands.get(commandId);
    if (!entry || entry.command.instanceId !== instanceId) {
      throw new PgvigilError('AWS', `no command ${commandId} for instance ${instanceId}`, { detail: 'InvocationDoesNotExist' });
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HostCommandResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'TimedOut', exitCode: null, output: `still ${entry.command.startedAt === null ? 'Pending' : 'InProgress'} after ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([entry.done, timeout]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Waits for every command still running (teardown). */
  async drain(): Promise<void> {
    await Promise.all([...this.commands.values()].map((c) => c.done.catch(() => undefined)));
  }
}

function sleepMs(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** Reads the deployed Command documents back from (emulated) SSM, keyed by document name. */
export async function documentsFromSsm(ssm: SSMClient, prefix = 'pgvigil'): Promise<Record<string, CommandDocumentContent>> {
  const documents: Record<string, CommandDocumentContent> = {};
  for (const action of SSM_ACTIONS) {
    const name = documentName(prefix, action);
    const result = await ssm.send(new GetDocumentCommand({ Name: name, DocumentFormat: 'JSON' }));
    if (!result.Content) throw new PgvigilError('NOT_FOUND', `SSM document ${name} has no content`);
    try {
      documents[name] = JSON.parse(result.Content) as CommandDocumentContent;
    } catch {
      throw new PgvigilError('BAD_INPUT', `SSM document ${name} does not hold JSON content`, {
        detail: `GetDocument returned ${JSON.stringify(result.Content.slice(0, 60))}`,
      });
    }
  }
  return documents;
}

/**
 * The sandbox's STONITH: every process of the instance's host dies, and (when an EC2 client is
 * given) the emulated instance is stopped too so DescribeInstances agrees.
 */
export class SandboxInstanceFencer implements InstanceFencer {
  constructor(
    private readonly supervisor: Supervisor,
    private readonly hostOf: (instanceId: string) => string | undefined,
    private readonly ec2?: EC2Client,
  ) {}

  async stop(instanceId: string): Promise<void> {
    const host = this.hostOf(instanceId);
    if (!host) throw new PgvigilError('AWS', `could not stop instance ${instanceId}`, { detail: 'InvalidInstanceID.NotFound' });
    await this.supervisor.killHost(host);
    if (this.ec2) await this.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Force: true }));
  }

  /** The emulated instance runs again; the sandbox's instance watcher boots its host. */
  async start(instanceId: string): Promise<void> {
    if (!this.hostOf(instanceId)) throw new PgvigilError('AWS', `could not start instance ${instanceId}`, { detail: 'InvalidInstanceID.NotFound' });
    if (this.ec2) await this.ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
  }
}
