/**
 * How `pgvigil standby switchover` reaches the controller's switchover entry point
 * (functions/switchover.ts, SPEC §7.2), and how it follows the saga until it is done.
 *
 * - PGVIGIL_SWITCHOVER_FUNCTION set: the deployed Lambda is invoked (the same entry point the SSM
 *   Automation document uses).
 * - unset: the entry point runs in this process with adapters built from the command's AWS
 *   settings (DynamoDB, SSM Run Command, EC2, and SNS when PGVIGIL_TOPIC_ARN is set).
 *
 * Either way the CLI follows progress the same way: the operation's step in the cluster record and
 * the events the saga records, polled until the operation is gone.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { Ec2InstanceFencer } from '../adapters/ec2-fencer.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';
import { SsmHostCommands } from '../adapters/ssm-host-commands.js';
import { systemClock } from '../adapters/system-clock.js';
import { decide } from '../core/engine/index.js';
import { PgvigilError } from '../core/errors.js';
import type { EventRecord } from '../core/model.js';
import type { Metrics } from '../core/ports.js';
import { DEFAULT_TIMINGS, type ControllerDeps } from '../functions/controller.js';
import { invocationFrom, notifierFor } from '../functions/environment.js';
import { silentLogger } from '../functions/log.js';
import { switchoverEntry } from '../functions/switchover-entry.js';
import type { SwitchoverRequest, SwitchoverResponse } from '../functions/switchover.js';
import type { Output } from '../shell/output.js';
import { aws, describeAwsError, type CliTarget } from './context.js';

/** Starts the switchover (or its dry run) and resolves with the entry point's response. */
export interface SwitchoverInvoker {
  /** How the switchover is run, for the progress display ("in this process", "Lambda f"). */
  readonly description: string;
  invoke(request: SwitchoverRequest): Promise<SwitchoverResponse>;
}

/** Invokes the deployed switchover Lambda and waits for its answer. */
export class LambdaSwitchoverInvoker implements SwitchoverInvoker {
  readonly description: string;
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {
    this.description = `Lambda function ${functionName}`;
  }

  async invoke(request: SwitchoverRequest): Promise<SwitchoverResponse> {
    let result;
    try {
      result = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode(JSON.stringify(request)) }),
      );
    } catch (error) {
      throw await this.describeInvokeError(error);
    }
    const text = result.Payload ? new TextDecoder().decode(result.Payload) : '';
    if (result.FunctionError) {
      let message = text;
      try {
        const parsed = JSON.parse(text) as { errorMessage?: string; errorType?: string };
        message = `${parsed.errorType ?? 'Error'}: ${parsed.errorMessage ?? text}`;
      } catch {
        // not JSON: keep the raw text
      }
      throw new PgvigilError('SWITCHOVER_FAIL', `the switchover function ${this.functionName} failed`, { detail: message });
    }
    try {
      return JSON.parse(text) as SwitchoverResponse;
    } catch {
      throw new PgvigilError('SWITCHOVER_FAIL', `the switchover function ${this.functionName} returned no valid answer`, { detail: text.slice(0, 500) });
    }
  }

  /** Lambda's own refusals named as such (not as the state table's, which describeAwsError assumes). */
  private async describeInvokeError(error: unknown): Promise<PgvigilError> {
    if (error instanceof PgvigilError) return error;
    const e = error as { name?: string; message?: string; code?: string; cause?: { code?: string } };
    const name = e?.name ?? '';
    const message = e?.message ?? String(error);
    let endpoint = '';
    try {
      const ep = await this.lambda.config.endpoint?.();
      if (ep) endpoint = ` at ${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}`;
    } catch {
      // no custom endpoint: the regional one
    }
    if (name === 'ResourceNotFoundException') {
      return new PgvigilError('BAD_CONFIG', `the switchover function "${this.functionName}"${endpoint} does not exist`, {
        cause: error,
        detail: message,
        hint: 'set PGVIGIL_SWITCHOVER_FUNCTION to the switchover function of the pgvigil stack (a sandbox prints its own with "pgvigil sandbox up")',
      });
    }
    const code = e?.code ?? e?.cause?.code ?? '';
    if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code) || name === 'TimeoutError') {
      return new PgvigilError('DB_CONN', `unable to reach the switchover function "${this.functionName}"${endpoint}`, {
        cause: error,
        detail: message,
        hint: 'check AWS_ENDPOINT_URL_LAMBDA / AWS_REGION (against a sandbox: is it still running? see "pgvigil sandbox status")',
      });
    }
    return new PgvigilError('AWS', `invoking the switchover function "${this.functionName}"${endpoint} failed: ${name ? `${name}: ` : ''}${message}`, { cause: error });
  }
}

const noMetrics: Metrics = { put: () => undefined, flush: () => undefined };

/** Runs functions/switchover.ts in this process, with adapters on the command's AWS settings. */
export class InProcessSwitchoverInvoker implements SwitchoverInvoker {
  readonly description = 'in this process';
  constructor(private readonly deps: ControllerDeps) {}

  invoke(request: SwitchoverRequest): Promise<SwitchoverResponse> {
    return switchoverEntry(this.deps, invocationFrom(undefined), request);
  }
}

export function inProcessDeps(target: CliTarget, env: NodeJS.ProcessEnv): ControllerDeps {
  const config = target.awsConfig;
  const topic = env.PGVIGIL_TOPIC_ARN?.trim() || null;
  const bus = env.PGVIGIL_EVENT_BUS?.trim();
  return {
    store: new DynamoStateStore(new DynamoDBClient(config), target.tableName),
    hosts: new SsmHostCommands(new SSMClient(config), { documentPrefix: env.PGVIGIL_SSM_DOCUMENT_PREFIX?.trim() || 'pgvigil' }),
    vip: new Ec2VipMover(new EC2Client(config)),
    fencer: new Ec2InstanceFencer(new EC2Client(config)),
    // The same destinations as the deployed functions: the topic and the optional bus.
    notifier: notifierFor({ table: target.tableName, topicArn: topic, documentPrefix: 'pgvigil', ...(bus ? { eventBus: bus } : {}) }, config),
    metrics: noMetrics,
    clock: systemClock,
    log: silentLogger,
    decide,
    timings: DEFAULT_TIMINGS,
  };
}

export type InvokerFactory = (target: CliTarget, env: NodeJS.ProcessEnv) => SwitchoverInvoker;

export const defaultInvokerFactory: InvokerFactory = (target, env) => {
  const fn = env.PGVIGIL_SWITCHOVER_FUNCTION?.trim();
  if (fn) return new LambdaSwitchoverInvoker(new LambdaClient({ ...target.awsConfig, ...(env.AWS_ENDPOINT_URL_LAMBDA ? { endpoint: env.AWS_ENDPOINT_URL_LAMBDA } : {}) }), fn);
  return new InProcessSwitchoverInvoker(inProcessDeps(target, env));
};

let invokerFactory: InvokerFactory = defaultInvokerFactory;

/** Replaces how the command reaches the switchover (tests, the sandbox). Returns the previous factory. */
export function setSwitchoverInvokerFactory(factory: InvokerFactory): InvokerFactory {
  const previous = invokerFactory;
  invokerFactory = factory;
  return previous;
}

export function switchoverInvoker(target: CliTarget, env: NodeJS.ProcessEnv): SwitchoverInvoker {
  return invokerFactory(target, env);
}

/** What each saga step means, for the progress display. */
export const STEP_TEXT: Record<string, string> = {
  demote_primary: 'demoting the primary (clean checkpoint and shutdown, final LSN)',
  wait_catchup: 'checking whether the candidate has reported the final LSN',
  promote: 'promoting the candidate (it first checks on its own server that it has the final LSN)',
  verify_promotion: 'verifying the promotion from the candidate\'s heartbeat',
  move_vip: 'moving the Elastic IP to the new primary',
  rejoin_old_primary: 'rejoining the old primary as a standby',
  siblings_follow: 'making the sibling standbys follow the new primary',
  finish: 'finishing: the new primary serves behind the Elastic IP',
  rollback: 'rolling back: restarting the old primary',
  incomplete: 'recording an incomplete switchover',
  // The failover saga's steps (a promotion by hand, functions/manual-failover.ts).
  fence_old_primary: 'fencing the old primary (the Elastic IP is taken away first)',
  disconnect_wal_receivers: 'stopping the standbys\' WAL receivers so their positions settle',
  rerank: 'checking the candidate again now that the old primary is fenced',
  abort: 'aborting: nothing was promoted',
};

export type SwitchoverOutcome = 'completed' | 'rolled_back' | 'failed' | 'incomplete' | 'timed_out';

export interface FollowOptions {
  candidateId: number;
  /** The saga followed. @default 'switchover' */
  kind?: 'switchover' | 'failover';
  /** Events at or after this time belong to this switchover. */
  sinceMs: number;
  pollMs: number;
  timeoutMs: number;
  now(): number;
}

export interface FollowResult {
  outcome: SwitchoverOutcome;
  response: SwitchoverResponse | null;
  events: EventRecord[];
  primaryNodeId: number | null;
}

/**
 * Polls the cluster record and the event log, printing each new saga step and event, until the
 * invocation has answered and the cluster carries no switchover operation any more.
 */
export async function followSwitchover(target: CliTarget, out: Output, invocation: Promise<SwitchoverResponse>, options: FollowOptions): Promise<FollowResult> {
  let response: SwitchoverResponse | null = null;
  let failure: unknown;
  let settled = false;
  const done = invocation.then(
    (r) => {
      response = r;
      settled = true;
    },
    (error: unknown) => {
      failure = error;
      settled = true;
    },
  );
  const seen = new Set<string>();
  const events: EventRecord[] = [];
  let lastStep: string | null = null;
  let lastFollowUp: string | null = null;
  const deadline = options.now() + options.timeoutMs;
  let primaryNodeId: number | null;
  for (;;) {
    const wasSettled = settled;
    const loaded = await aws(target, () => target.store.load(target.clusterId));
    const cluster = loaded?.snapshot.cluster;
    primaryNodeId = cluster?.primary_node_id ?? null;
    const op = cluster?.operation ?? null;
    const kind = options.kind ?? 'switchover';
    const ours = op !== null && op.kind === kind && op.candidate_node_id === options.candidateId;
    if (ours && op.step !== lastStep) {
      lastStep = op.step;
      out.info(`${kind} step "${op.step}": ${STEP_TEXT[op.step] ?? op.step}`);
    }
    // The follow-ups (the old primary's rejoin, the siblings' follow) are small operations of their own.
    const followUp = op !== null && (op.kind === 'rejoin' || op.kind === 'follow') && lastStep !== null ? `${op.id}` : null;
    if (op && followUp !== null && followUp !== lastFollowUp) {
      lastFollowUp = followUp;
      out.info(`follow-up: ${op.kind} of node ${op.candidate_node_id ?? '?'} toward node ${String(op.data.upstream_node_id ?? '?')} (operation ${op.id})`);
    }
    const fresh = await aws(target, () => target.store.listEvents(target.clusterId, { sinceMs: options.sinceMs }));
    for (const e of fresh) {
      const key = `${e.timestamp}|${e.node_id}|${e.event}|${e.details}`;
      if (seen.has(key)) continue;
      seen.add(key);
      events.push(e);
      (e.successful ? out.notice : out.warning)(`${e.event} (node ${e.node_id}): ${e.details}`);
    }
    if (wasSettled) {
      if (failure !== undefined) throw describeAwsError(failure, target);
      const r = response as SwitchoverResponse | null;
      const stillRunning = ours && (r?.operation_id === undefined || r.operation_id === op.id);
      if (!stillRunning || r?.operation_id === undefined) return { outcome: judge(r, events, primaryNodeId, options.candidateId), response: r, events, primaryNodeId };
    }
    if (options.now() >= deadline) return { outcome: 'timed_out', response, events, primaryNodeId };
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, options.pollMs))]);
  }
}

function judge(response: SwitchoverResponse | null, events: readonly EventRecord[], primary: number | null, candidate: number): SwitchoverOutcome {
  if (events.some((e) => e.event === 'failover_started')) {
    if (response?.ok || primary === candidate) return 'completed';
    return response?.outcome === 'yielded' ? 'incomplete' : 'failed';
  }
  const final = [...events].reverse().find((e) => e.event === 'standby_switchover');
  if (final?.successful || (response?.ok && primary === candidate)) return 'completed';
  if (events.some((e) => e.event === 'switchover_rolled_back')) return 'rolled_back';
  if (final && /incomplete/.test(final.details)) return 'incomplete';
  if (response && response.operation_id === undefined) return 'failed';
  return primary === candidate ? 'completed' : 'incomplete';
}
