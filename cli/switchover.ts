/**
 * How `pgvigil standby switchover` reaches the controller's switchover entry point
 * (functions/switchover.ts; docs/cli.md), and how it follows the saga until it is done.
 *
 * - PGVIGIL_SWITCHOVER_FUNCTION set: the deployed Lambda is invoked (the same entry point the SSM
 *   Automation document uses) through adapters/lambda-invoke.ts.
 * - unset: the entry point runs in this process with adapters built from the command's AWS
 *   settings (DynamoDB, SSM Run Command, EC2, and SNS when PGVIGIL_TOPIC_ARN is set).
 *
 * Either way the CLI follows progress the same way: the operation's step in the cluster record and
 * the events the saga records, polled until the operation is gone.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { invokeFunction } from '../adapters/lambda-invoke.js';
import { PgvigilError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { EventRecord } from '../core/model.js';
import type { Metrics } from '../core/ports.js';
import type { ControllerDeps } from '../functions/controller.js';
import { buildDeps, invocationFrom } from '../functions/environment.js';
import { silentLogger } from '../functions/log.js';
import { switchoverEntry } from '../functions/switchover-entry.js';
import type { SwitchoverRequest, SwitchoverResponse } from '../functions/switchover.js';
import type { Output } from '../shell/output.js';
import { aws, describeAwsError, type CliTarget } from './context.js';
import type { InvokerFactory, SwitchoverInvoker } from './deps.js';

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
    let answer;
    try {
      answer = await invokeFunction(this.lambda, this.functionName, request);
    } catch (error) {
      throw await this.describeInvokeError(error);
    }
    const text = answer.payload;
    if (answer.functionError) {
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

/**
 * The controller's adapters on the command's AWS settings: the deployed functions' own
 * (functions/environment.ts), with no metrics (the EMF lines would land in the command's output).
 */
export function inProcessDeps(target: CliTarget, env: NodeJS.ProcessEnv): ControllerDeps {
  const topic = env.PGVIGIL_TOPIC_ARN?.trim() || null;
  const bus = env.PGVIGIL_EVENT_BUS?.trim();
  const environment = { table: target.tableName, topicArn: topic, documentPrefix: env.PGVIGIL_SSM_DOCUMENT_PREFIX?.trim() || 'pgvigil', ...(bus ? { eventBus: bus } : {}) };
  return buildDeps(environment, { clientConfig: target.awsConfig, log: silentLogger, overrides: { metrics: noMetrics } });
}

/** The deployed switchover function when PGVIGIL_SWITCHOVER_FUNCTION names one, else this process. */
export const defaultInvokerFactory: InvokerFactory = (target, env) => {
  const fn = env.PGVIGIL_SWITCHOVER_FUNCTION?.trim();
  if (fn) return new LambdaSwitchoverInvoker(new LambdaClient({ ...target.awsConfig, ...(env.AWS_ENDPOINT_URL_LAMBDA ? { endpoint: env.AWS_ENDPOINT_URL_LAMBDA } : {}) }), fn);
  return new InProcessSwitchoverInvoker(inProcessDeps(target, env));
};

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

/** How {@link followAndReport} reports an answer that started no saga (a dry run, failed checks). */
export interface ReportOptions {
  /** --json: the whole answer on stdout instead of the checks on stderr. */
  json: boolean;
  /** --dry-run: only the checks were asked for, so the answer is the whole outcome. */
  dryRun: boolean;
  /** The exit code when the checks failed. */
  refusedCode: number;
  /** The line printed when every check passed. @default the entry point's message */
  passed?: string;
  /** A hint after a refusal, when the answer calls for one. */
  refusedHint?(response: SwitchoverResponse): string | undefined;
}

/**
 * Starts the request, follows it ({@link followSwitchover}) and prints the answer as JSON with
 * --json. When the entry point answered without starting a saga (a dry run, or checks that failed)
 * it prints each check and returns the exit code; otherwise the saga's result, for the command to
 * report in its own words.
 */
export async function followAndReport(
  target: CliTarget,
  out: Output,
  invocation: Promise<SwitchoverResponse>,
  follow: FollowOptions,
  report: ReportOptions,
): Promise<{ exitCode: number } | FollowResult> {
  const result = await followSwitchover(target, out, invocation, follow);
  const response = result.response;
  if (report.json) out.print(JSON.stringify({ outcome: result.outcome, response, primary_node_id: result.primaryNodeId }, null, 2));
  if (!response || (!report.dryRun && response.operation_id !== undefined)) return result;
  if (!report.json) for (const c of response.checks) (c.passed ? out.info : out.error)(`${c.name}: ${c.detail}`);
  if (response.ok) {
    out.info(report.passed ?? response.message);
    return { exitCode: ExitCode.SUCCESS };
  }
  out.error(response.message);
  const hint = report.refusedHint?.(response);
  if (hint) out.hint(hint);
  return { exitCode: report.refusedCode };
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
