/**
 * Host actions through SSM Run Command (docs/controller.md, docs/deploy.md): SendCommand to `<prefix>-<Action>` with
 * parameters checked against the documents' own patterns (core/ssm-parameters), then
 * GetCommandInvocation polled until a terminal status or the caller's bound.
 *
 * Status mapping: Success → Success; Failed → Failed (or Undeliverable when SSM says the command
 * never reached the agent, e.g. the instance is offline); TimedOut (delivery or execution) →
 * TimedOut; Cancelled/Cancelling → Cancelled. A command still running when the bound passes is
 * reported as TimedOut with the last status SSM gave. Throttling is retried with backoff.
 */
import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ssmDocumentName, ssmParameters } from '../core/ssm-parameters.js';
import type { Clock, HostAction, HostCommandResult, HostCommands } from '../core/ports.js';
import { awsErrorName, awsFailure, withAwsRetry, type RetryOptions } from './aws-retry.js';
import { systemClock } from './system-clock.js';

export interface SsmHostCommandsOptions {
  /** Document name prefix: documents are `<prefix>-Promote`, `<prefix>-Follow` … @default 'pgvigil' */
  documentPrefix?: string;
  /** Between two GetCommandInvocation calls. @default 1000 */
  pollIntervalMs?: number;
  /** SSM's own TimeoutSeconds for delivery + execution. @default 600 */
  commandTimeoutSecs?: number;
  clock?: Clock;
  retry?: RetryOptions;
}

const MAX_OUTPUT = 4000;

export class SsmHostCommands implements HostCommands {
  private readonly prefix: string;
  private readonly pollIntervalMs: number;
  private readonly commandTimeoutSecs: number;
  private readonly clock: Clock;
  private readonly retry: RetryOptions;

  constructor(
    private readonly ssm: SSMClient,
    options: SsmHostCommandsOptions = {},
  ) {
    this.prefix = options.documentPrefix ?? 'pgvigil';
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.commandTimeoutSecs = options.commandTimeoutSecs ?? 600;
    this.clock = options.clock ?? systemClock;
    this.retry = options.retry ?? {};
  }

  async send(instanceId: string, action: HostAction): Promise<string> {
    const parameters = ssmParameters(action); // throws BAD_INPUT before anything is sent
    const documentName = ssmDocumentName(this.prefix, action.action);
    try {
      const result = await withAwsRetry(
        this.clock,
        () =>
          this.ssm.send(
            new SendCommandCommand({
              DocumentName: documentName,
              InstanceIds: [instanceId],
              Parameters: parameters,
              TimeoutSeconds: this.commandTimeoutSecs,
              Comment: `pgvigil ${action.clusterId} term ${action.term}: ${action.action} node ${action.nodeId}`.slice(0, 100),
            }),
          ),
        this.retry,
      );
      const id = result.Command?.CommandId;
      if (!id) throw new Error('SendCommand returned no command id');
      return id;
    } catch (error) {
      throw awsFailure(`could not send ${documentName} to instance ${instanceId}`, error);
    }
  }

  async wait(commandId: string, instanceId: string, timeoutMs: number): Promise<HostCommandResult> {
    const deadline = this.clock.now() + timeoutMs;
    let last = 'Pending';
    for (;;) {
      try {
        const inv = await withAwsRetry(
          this.clock,
          () => this.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })),
          this.retry,
        );
        last = inv.Status ?? 'Pending';
        const result = mapInvocation(last, inv.StatusDetails, inv.ResponseCode, inv.StandardOutputContent, inv.StandardErrorContent);
        if (result) return result;
      } catch (error) {
        // Right after SendCommand the invocation may not exist yet; that is not a failure.
        if (awsErrorName(error) !== 'InvocationDoesNotExist') {
          throw awsFailure(`could not read the status of SSM command ${commandId} on ${instanceId}`, error);
        }
      }
      const left = deadline - this.clock.now();
      if (left <= 0) {
        return { status: 'TimedOut', exitCode: null, output: `no terminal status within ${timeoutMs} ms (last status: ${last})` };
      }
      await this.clock.sleep(Math.min(this.pollIntervalMs, left));
    }
  }
}

/** Maps one GetCommandInvocation answer to a result, or null while the command is still running. */
export function mapInvocation(
  status: string,
  details: string | undefined,
  responseCode: number | undefined,
  stdout: string | undefined,
  stderr: string | undefined,
): HostCommandResult | null {
  const output = [stdout ?? '', stderr ?? ''].filter((s) => s.length > 0).join('\n').slice(-MAX_OUTPUT);
  const exitCode = responseCode === undefined || responseCode < 0 ? null : responseCode;
  switch (status) {
    case 'Success':
      return { status: 'Success', exitCode: exitCode ?? 0, output };
    case 'Failed':
      if (details === 'Undeliverable' || details === 'InvalidPlatform' || details === 'AccessDenied') {
        return { status: 'Undeliverable', exitCode: null, output: output || `SSM: ${details}` };
      }
      return { status: 'Failed', exitCode, output: output || `SSM: ${details ?? 'Failed'}` };
    case 'TimedOut':
      return { status: 'TimedOut', exitCode, output: output || `SSM: ${details ?? 'TimedOut'}` };
    case 'Cancelled':
    case 'Cancelling':
      return { status: 'Cancelled', exitCode, output: output || `SSM: ${details ?? status}` };
    default:
      // Pending, InProgress, Delayed: keep polling. Undeliverable can also show up as a detail of
      // a command SSM has given up delivering.
      if (details === 'Undeliverable') return { status: 'Undeliverable', exitCode: null, output: 'SSM: Undeliverable' };
      return null;
  }
}
