/**
 * pgvigil's SSM documents as resources: the Command documents the controller sends to the hosts (their
 * content is shared with the sandbox: infra/ssm-documents.ts) and the switchover's Automation document.
 */
import { Aws, Stack, aws_iam as iam, aws_lambda as lambda, aws_ssm as ssm } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SSM_ACTIONS, SWITCHOVER_DOCUMENT, commandDocuments, documentName, switchoverAutomationContent, type SsmAction } from './ssm-documents.js';

/** One Command document per host action; returns their names and ARNs (what the controller may send). */
export function commandDocumentResources(
  scope: Construct,
  prefix: string,
  agentCommand: string | undefined,
): { names: Record<SsmAction, string>; arns: string[] } {
  const stack = Stack.of(scope);
  const docs = commandDocuments({ prefix, agentCommand });
  const names = {} as Record<SsmAction, string>;
  const arns: string[] = [];
  for (const action of SSM_ACTIONS) {
    const doc = docs[action];
    new ssm.CfnDocument(scope, `${action}Document`, {
      name: doc.name,
      documentType: 'Command',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: doc.content,
    });
    names[action] = doc.name;
    arns.push(stack.formatArn({ service: 'ssm', resource: 'document', resourceName: doc.name }));
  }
  return { names, arns };
}

/** The Automation document that invokes the switchover function, and the role it runs with. */
export function switchoverAutomation(scope: Construct, prefix: string, switchover: lambda.Function): { role: iam.Role; documentName: string } {
  const role = new iam.Role(scope, 'SwitchoverAutomationRole', {
    description: 'pgvigil: role SSM Automation assumes to run the switchover document',
    assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
    inlinePolicies: {
      InvokeSwitchover: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [switchover.functionArn] }),
        ],
      }),
    },
  });
  const name = documentName(prefix, SWITCHOVER_DOCUMENT);
  new ssm.CfnDocument(scope, 'SwitchoverDocument', {
    name,
    documentType: 'Automation',
    documentFormat: 'JSON',
    updateMethod: 'NewVersion',
    content: switchoverAutomationContent(switchover.functionName, role.roleArn),
  });
  return { role, documentName: name };
}
