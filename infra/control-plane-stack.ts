/**
 * The control plane as a stack of its own, with stable output names: what `cdk deploy` deploys
 * (infra/app.ts) and what {@link deployToEmulator} puts into moto for the sandbox and the tests.
 */
import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { PgvigilControlPlane, type PgvigilClusterProps, type PgvigilControlPlaneProps } from './construct.js';

export interface PgvigilControlPlaneStackProps extends StackProps {
  /** Props of the {@link PgvigilControlPlane} in this stack. */
  readonly controlPlane: PgvigilControlPlaneProps;
}

/** Output names of {@link PgvigilControlPlaneStack} (CloudFormation output keys). */
export const CONTROL_PLANE_OUTPUTS = {
  tableName: 'TableName',
  tableStreamArn: 'TableStreamArn',
  topicArn: 'TopicArn',
  documentPrefix: 'DocumentPrefix',
  switchoverDocumentName: 'SwitchoverDocumentName',
  evaluatorFunctionName: 'EvaluatorFunctionName',
  switchoverFunctionName: 'SwitchoverFunctionName',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  /** `cluster=eipalloc-…` pairs joined by commas (`cluster=` for a cluster without an Elastic IP). */
  vipAllocationIds: 'VipAllocationIds',
  /** `cluster=arn:…:policy/…` pairs: the managed policy to attach to each cluster's instance role. */
  agentPolicyArns: 'AgentPolicyArns',
  /** `cluster=arn:…:secret:…` pairs: each cluster's `rest_api_secret_arn`. */
  agentApiSecretArns: 'AgentApiSecretArns',
} as const;

export class PgvigilControlPlaneStack extends Stack {
  readonly controlPlane: PgvigilControlPlane;

  constructor(scope: Construct, id: string, props: PgvigilControlPlaneStackProps) {
    super(scope, id, { description: 'pgvigil: serverless control plane for PostgreSQL HA on EC2', ...props });
    const cp = new PgvigilControlPlane(this, 'ControlPlane', props.controlPlane);
    this.controlPlane = cp;
    const out = (key: keyof typeof CONTROL_PLANE_OUTPUTS, value: string, description: string) =>
      new CfnOutput(this, CONTROL_PLANE_OUTPUTS[key], { value, description });
    out('tableName', cp.table.tableName, 'state_table of every agent and of the pgvigil CLI');
    out('tableStreamArn', cp.table.tableStreamArn ?? '', 'stream of the state table (the evaluator reads it)');
    out('topicArn', cp.topic.topicArn, 'SNS topic of events and alarms');
    out('documentPrefix', cp.documentPrefix, 'prefix of the SSM documents');
    out('switchoverDocumentName', cp.switchoverDocumentName, 'SSM Automation document of the manual switchover');
    out('evaluatorFunctionName', cp.evaluator.functionName, 'evaluator Lambda function');
    out('switchoverFunctionName', cp.switchover.functionName, 'switchover Lambda function');
    out('deadLetterQueueUrl', cp.deadLetterQueue.queueUrl, 'stream records the evaluator gave up on');
    out(
      'vipAllocationIds',
      Fn.join(',', cp.clusterIds.map((id) => Fn.join('=', [id, cp.vipAllocationId(id) ?? '']))),
      'vip_allocation_id of each cluster, as cluster=allocation-id pairs',
    );
    out(
      'agentPolicyArns',
      Fn.join(',', cp.clusterIds.map((id) => Fn.join('=', [id, cp.agentPolicy(id).managedPolicyArn]))),
      "managed policy for each cluster's agents (attach it to the instance role), as cluster=policy-arn pairs",
    );
    out(
      'agentApiSecretArns',
      Fn.join(',', cp.clusterIds.map((id) => Fn.join('=', [id, cp.agentApiSecret(id).secretArn]))),
      "rest_api_secret_arn of each cluster (the agents' API secret), as cluster=secret-arn pairs",
    );
  }
}

/**
 * Parses the `pgvigil:clusters` context value: comma-separated cluster ids, each optionally followed
 * by `=` and its routes joined by `+`: `eip` (a new Elastic IP, the default), `eipalloc-…` (an
 * existing one), `route53:<zone id>/<record name>` (a record that follows the primary). A cluster
 * whose routes name no Elastic IP gets none. The construct validates the values.
 */
export function parseClusters(text: string): PgvigilClusterProps[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf('=');
      const clusterId = (eq < 0 ? entry : entry.slice(0, eq)).trim();
      if (eq < 0) return { clusterId };
      let elasticIp = false;
      let vipAllocationId: string | undefined;
      let route53Record: PgvigilClusterProps['route53Record'];
      for (const route of entry.slice(eq + 1).split('+').map((s) => s.trim())) {
        const slash = route.indexOf('/');
        if (route === 'eip') {
          elasticIp = true;
        } else if (route.startsWith('eipalloc-')) {
          elasticIp = true;
          vipAllocationId = route;
        } else if (route.startsWith('route53:') && slash > 'route53:'.length && slash < route.length - 1) {
          route53Record = { hostedZoneId: route.slice('route53:'.length, slash), recordName: route.slice(slash + 1) };
        } else {
          throw new Error(`pgvigil:clusters: "${route}" in "${entry}" is not a route (eip, eipalloc-…, route53:<zone id>/<record name>)`);
        }
      }
      return { clusterId, ...(vipAllocationId ? { vipAllocationId } : {}), ...(elasticIp ? {} : { elasticIp: false }), ...(route53Record ? { route53Record } : {}) };
    });
}
