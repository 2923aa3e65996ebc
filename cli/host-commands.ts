/**
 * How operator commands carry out a host action on another node: the same SSM Run Command adapter
 * (adapters/ssm-host-commands.ts) and documents the controller's sagas use, with the command's AWS
 * settings. Tests replace it through the program's deps (`cliDeps({ hostCommands })`, cli/deps.ts),
 * e.g. with the sandbox's SSM runner (moto's SendCommand runs nothing).
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmHostCommands } from '../adapters/ssm-host-commands.js';
import { PgvigilError } from '../core/errors.js';
import type { NodeRecord } from '../core/model.js';
import type { HostAction, HostCommandResult, HostCommands } from '../core/ports.js';
import { nodeLabel } from '../core/node-status.js';
import type { Output } from '../shell/output.js';
import type { CliTarget } from './context.js';

/** The SSM Run Command adapter on the command's AWS settings (cli/main.ts's default `hostCommands`). */
export function ssmHostCommands(target: CliTarget, env: NodeJS.ProcessEnv): HostCommands {
  return new SsmHostCommands(new SSMClient(target.awsConfig), { documentPrefix: env.PGVIGIL_SSM_DOCUMENT_PREFIX?.trim() || 'pgvigil' });
}

/** Relays the agent's own repmgr-style lines (`NOTICE: …`) at their level; other lines as DETAIL. */
export function relayAgentOutput(out: Output, output: string): void {
  const levels: Record<string, (message: string) => void> = {
    DEBUG: out.debug,
    INFO: out.info,
    NOTICE: out.notice,
    WARNING: out.warning,
    ERROR: out.error,
    DETAIL: out.detail,
    HINT: out.hint,
  };
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([A-Z]+): (.*)$/.exec(line);
    const print = (m && levels[m[1] ?? '']) || out.detail;
    print(m && levels[m[1] ?? ''] ? (m[2] ?? '') : line);
  }
}

/**
 * Sends one host action to a node's instance and waits for its end, relaying the agent's output.
 * Resolves with the result whatever its status; {@link requireSuccess} turns a failure into an error.
 */
export async function runOnNode(hosts: HostCommands, out: Output, node: NodeRecord, action: HostAction, timeoutMs: number): Promise<HostCommandResult> {
  if (!node.instance_id) {
    throw new PgvigilError('BAD_ARGUMENT', `${nodeLabel(node)} has no EC2 instance registered: SSM Run Command cannot reach it`, {
      hint: 'run the command on the node itself with -f CONFIG and no --node-id',
    });
  }
  const id = await hosts.send(node.instance_id, action);
  out.info(`sent "${action.action}" to ${nodeLabel(node)} on ${node.instance_id} (SSM command ${id})`);
  const result = await hosts.wait(id, node.instance_id, timeoutMs);
  relayAgentOutput(out, result.output);
  return result;
}

/** LOCAL_COMMAND (exit 5, repmgr's ERR_LOCAL_COMMAND) naming the node, SSM's status and the agent's exit code, unless it succeeded. */
export function requireSuccess(result: HostCommandResult, node: NodeRecord, what: string): void {
  if (result.status === 'Success') return;
  throw new PgvigilError('LOCAL_COMMAND', `${what} on ${nodeLabel(node)} did not succeed: SSM status ${result.status}${result.exitCode === null ? '' : `, exit code ${result.exitCode}`}`, {
    detail: result.output.trim().split('\n').slice(-3).join('\n') || 'no output',
  });
}
