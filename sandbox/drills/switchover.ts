/**
 * switchover: a planned switchover to a standby the way an operator starts one in AWS — SSM
 * Automation running the stack's switchover document (`aws ssm start-automation-execution`), which
 * invokes the switchover function the sandbox serves, with the sandbox's SSM runner, fencer and
 * Elastic IP mover (docs/sandbox.md, "SSM Automation"). `pgvigil standby switchover` takes the same
 * function through Lambda (test/e2e/cli-sandbox.test.ts).
 */
import { GetAutomationExecutionCommand, SSMClient, StartAutomationExecutionCommand, type AutomationExecution } from '@aws-sdk/client-ssm';
import { PgvigilError } from '../../core/errors.js';
import { pgNodes, sleep } from './heal.js';
import type { Scenario } from './scenario.js';

/** A switchover's saga has its own step deadlines; this only bounds a lost execution. */
const EXECUTION_TIMEOUT_MS = 5 * 60_000;

export const switchover: Scenario = {
  name: 'switchover',
  summary: 'planned switchover to a standby through SSM Automation (the stack\'s switchover document, siblings follow): demote, catch up, promote, VIP, rejoin',
  proves: 'a planned switchover loses no committed write, keeps one writable primary at a time, and ends with the old primary streaming as a standby',
  failoverExpected: true,
  async inject(ctx) {
    const { sandbox } = ctx;
    const candidate = pgNodes(sandbox)
      .filter((n) => n.node_id !== ctx.oldPrimary.node_id)
      .sort((a, b) => b.priority - a.priority || a.node_id - b.node_id)[0];
    if (!candidate) throw new PgvigilError('SYS_FAILURE', 'switchover drill: no standby to promote');
    const document = sandbox.deployment.switchoverDocumentName;
    const ssm = new SSMClient(sandbox.clientConfig);
    try {
      const { AutomationExecutionId: id } = await ssm.send(
        new StartAutomationExecutionCommand({
          DocumentName: document,
          Parameters: { ClusterId: [sandbox.state.clusterId], CandidateNodeId: [String(candidate.node_id)], SiblingsFollow: ['true'] },
        }),
      );
      if (!id) throw new PgvigilError('AWS', `StartAutomationExecution of ${document} returned no execution id`);
      let execution: AutomationExecution | undefined;
      const deadline = Date.now() + EXECUTION_TIMEOUT_MS;
      for (;;) {
        execution = (await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }))).AutomationExecution;
        if (!['Pending', 'InProgress'].includes(execution?.AutomationExecutionStatus ?? '') || Date.now() > deadline) break;
        await sleep(200);
      }
      let message = execution?.FailureMessage ?? '';
      try {
        message ||= String((JSON.parse(execution?.Outputs?.['switchover.Payload']?.[0] ?? '{}') as { message?: unknown }).message ?? '');
      } catch {
        // the output is the function's answer as text
      }
      ctx.notes.push(`switchover to ${candidate.node_name} through SSM Automation ${document} (${id}): ${execution?.AutomationExecutionStatus ?? 'unknown'}: ${message}`);
    } finally {
      ssm.destroy();
    }
  },
};
