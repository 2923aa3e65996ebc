import { createServer, type Server } from 'node:http';
import {
  CreateDocumentCommand,
  DescribeAutomationExecutionsCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  StartAutomationExecutionCommand,
  type AutomationExecution,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { commandDocuments, switchoverAutomationContent } from '../../infra/ssm-documents.js';
import { freePort, startMoto, type Moto } from '../support/moto.js';

/**
 * SSM Automation in the emulator (sandbox/moto_automation.py) running the switchover document the
 * stack deploys. The function it invokes is a stand-in served with Lambda's Invoke protocol: the
 * automation runner is under test here; the real switchover function behind the same call is
 * driven by test/e2e/cli-sandbox.test.ts.
 */
const FUNCTION = 'pgvigil-ControlPlaneSwitchover1A2B';
const ROLE = 'arn:aws:iam::123456789012:role/pgvigil-automation';
const DOCUMENT = 'pgvigil-Switchover';

let moto: Moto;
let ssm: SSMClient;
let lambda: Server;
/** Every invocation the stand-in received: function name, invocation type, payload. */
let invocations: Array<{ name: string; type: string; payload: unknown }> = [];
/** What the stand-in answers next. */
let answer: { status: number; body: unknown; functionError?: boolean } = { status: 200, body: { ok: true, message: 'switchover completed' } };

beforeAll(async () => {
  const port = await freePort();
  lambda = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const name = decodeURIComponent(/^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? '')?.[1] ?? '');
      invocations.push({ name, type: String(req.headers['x-amz-invocation-type']), payload: JSON.parse(body) as unknown });
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.functionError ? { 'x-amz-function-error': 'Unhandled' } : {}) });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => lambda.listen(port, '127.0.0.1', () => resolve()));
  moto = await startMoto({ env: { PGVIGIL_AUTOMATION_LAMBDA_ENDPOINT: `http://127.0.0.1:${port}` } });
  ssm = new SSMClient(moto.clientConfig);
  await ssm.send(
    new CreateDocumentCommand({ Name: DOCUMENT, DocumentType: 'Automation', DocumentFormat: 'JSON', Content: JSON.stringify(switchoverAutomationContent(FUNCTION, ROLE)) }),
  );
  const follow = commandDocuments().Follow;
  await ssm.send(new CreateDocumentCommand({ Name: follow.name, DocumentType: 'Command', DocumentFormat: 'JSON', Content: JSON.stringify(follow.content) }));
}, 60_000);

afterAll(async () => {
  ssm?.destroy();
  await moto?.stop();
  await new Promise((resolve) => lambda?.close(resolve));
});

beforeEach(() => {
  invocations = [];
  answer = { status: 200, body: { ok: true, message: 'switchover completed', cluster_id: 'main' } };
});

async function finished(id: string): Promise<AutomationExecution> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { AutomationExecution: execution } = await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: id }));
    if (execution && !['Pending', 'InProgress'].includes(execution.AutomationExecutionStatus ?? '')) return execution;
    if (Date.now() > deadline) throw new Error(`automation ${id} still ${execution?.AutomationExecutionStatus} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function start(parameters: Record<string, string[]>, name = DOCUMENT): Promise<string> {
  const { AutomationExecutionId } = await ssm.send(new StartAutomationExecutionCommand({ DocumentName: name, Parameters: parameters }));
  if (!AutomationExecutionId) throw new Error('StartAutomationExecution returned no id');
  return AutomationExecutionId;
}

describe('SSM Automation in the emulator', () => {
  it('runs the switchover document: invokes the function with its payload and reports Success with the outputs', async () => {
    const execution = await finished(await start({ ClusterId: ['main'], CandidateNodeId: ['2'] }));

    expect(execution.AutomationExecutionStatus).toBe('Success');
    expect(invocations).toEqual([
      { name: FUNCTION, type: 'RequestResponse', payload: { cluster_id: 'main', candidate_node_id: 2, siblings_follow: true, dry_run: false } },
    ]);
    expect(execution.StepExecutions?.map((s) => [s.StepName, s.Action, s.StepStatus])).toEqual([
      ['switchover', 'aws:invokeLambdaFunction', 'Success'],
      ['checkResult', 'aws:executeScript', 'Success'],
    ]);
    expect(JSON.parse(execution.Outputs?.['switchover.Payload']?.[0] ?? '{}')).toMatchObject({ ok: true, message: 'switchover completed' });
    expect(execution.Parameters).toMatchObject({ ClusterId: ['main'], CandidateNodeId: ['2'], SiblingsFollow: ['true'], DryRun: ['false'] });
    expect(execution.ExecutionEndTime).toBeInstanceOf(Date);
  });

  it('passes the dry-run and siblings-follow parameters into the payload', async () => {
    await finished(await start({ ClusterId: ['main'], CandidateNodeId: ['3'], SiblingsFollow: ['false'], DryRun: ['true'] }));

    expect(invocations.map((i) => i.payload)).toEqual([{ cluster_id: 'main', candidate_node_id: 3, siblings_follow: false, dry_run: true }]);
  });

  it('fails the execution with the function’s message when the switchover did not complete', async () => {
    answer = { status: 200, body: { ok: false, message: 'candidate node 2 lags 40 MB behind the primary' } };

    const execution = await finished(await start({ ClusterId: ['main'], CandidateNodeId: ['2'] }));

    expect(execution.AutomationExecutionStatus).toBe('Failed');
    expect(execution.StepExecutions?.map((s) => s.StepStatus)).toEqual(['Success', 'Failed']);
    expect(execution.StepExecutions?.[1]?.FailureMessage).toContain('candidate node 2 lags 40 MB behind the primary');
    expect(execution.FailureMessage).toContain('checkResult');
  });

  it('fails the execution when the function itself failed', async () => {
    answer = { status: 200, body: { errorType: 'PgvigilError', errorMessage: 'invalid switchover request' }, functionError: true };

    const execution = await finished(await start({ ClusterId: ['main'], CandidateNodeId: ['2'] }));

    expect(execution.AutomationExecutionStatus).toBe('Failed');
    expect(execution.StepExecutions?.[0]?.Outputs?.FunctionError).toEqual(['Unhandled']);
    expect(execution.StepExecutions?.[1]?.FailureMessage).toContain('invalid switchover request');
  });

  it('refuses parameters the document does not allow, naming each, and invokes nothing', async () => {
    const refused = start({ ClusterId: ['main; rm -rf /'], CandidateNodeId: ['two'], Extra: ['1'] });

    await expect(refused).rejects.toMatchObject({ name: 'InvalidAutomationExecutionParametersException' });
    await expect(refused).rejects.toThrow(/unknown parameter Extra.*ClusterId.*CandidateNodeId/);
    expect(invocations).toEqual([]);
  });

  it('refuses a missing required parameter', async () => {
    await expect(start({ ClusterId: ['main'] })).rejects.toThrow(/missing parameter CandidateNodeId/);
    expect(invocations).toEqual([]);
  });

  it('answers AutomationDefinitionNotFound for a document that does not exist and refuses a Command document', async () => {
    await expect(start({}, 'pgvigil-NoSuchDocument')).rejects.toMatchObject({ name: 'AutomationDefinitionNotFoundException' });
    await expect(start({}, commandDocuments().Follow.name)).rejects.toThrow(/not Automation/);
  });

  it('answers AutomationExecutionNotFound for an unknown execution id and lists the executions it ran', async () => {
    await expect(ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: '00000000-0000-0000-0000-000000000000' }))).rejects.toMatchObject({
      name: 'AutomationExecutionNotFoundException',
    });
    const id = await start({ ClusterId: ['main'], CandidateNodeId: ['2'] });
    await finished(id);
    const listed = await ssm.send(new DescribeAutomationExecutionsCommand({}));
    expect(listed.AutomationExecutionMetadataList?.find((m) => m.AutomationExecutionId === id)).toMatchObject({
      DocumentName: DOCUMENT,
      AutomationExecutionStatus: 'Success',
    });
  });
});
