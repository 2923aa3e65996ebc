import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations, aws_sqs as sqs } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgvigilControlPlaneStack } from '../../infra/control-plane-stack.js';
import { PgvigilExampleStack } from '../../infra/example-stack.js';
import { testApps } from './helpers.js';

const apps = testApps();
afterAll(apps.cleanup);

interface Report {
  pluginReports: Array<{ pluginName: string; conclusion: string; violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
}

/** Synthesizes with the AwsSolutions pack; returns the thrown error (if any) and the validation report. */
function synthWithNag(build: (app: App) => void): { error: unknown; report: Report; app: App } {
  const app = apps.app();
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as Report;
  return { error, report, app };
}

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason }))),
  );
}

function violations(report: Report): string[] {
  return report.pluginReports
    .filter((p) => p.pluginName === 'AwsSolutions')
    .flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`)));
}

describe('cdk-nag AwsSolutions', () => {
  // Both stacks in one app: one synthesis.
  let result: ReturnType<typeof synthWithNag>;
  const findings = (stackName: string) => violations(result.report).filter((v) => v.includes(` at ${stackName}/`));

  beforeAll(() => {
    result = synthWithNag((app) => {
      new PgvigilControlPlaneStack(app, 'pgvigil', {
        controlPlane: { clusters: [{ clusterId: 'main' }, { clusterId: 'b.2', vipAllocationId: 'eipalloc-0123456789abcdef0' }] },
      });
      new PgvigilExampleStack(app, 'pgvigil-example');
      // The public layout (the Elastic IP the only route) has its own network.
      new PgvigilExampleStack(app, 'pgvigil-example-public', { loadBalancer: false, route53: false, documentPrefix: 'pgvigil-public' });
    });
  });

  it('runs and fails on a real finding (the check can fail)', () => {
    const broken = synthWithNag((app) => {
      new sqs.Queue(new Stack(app, 'broken'), 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    });
    expect(String(broken.error)).toMatch(/ValidationFailed/);
    expect(violations(broken.report)).toEqual(expect.arrayContaining([expect.stringMatching(/^AwsSolutions-SQS2 at broken\/Plain/)]));
  });

  it('finds nothing unacknowledged in the control-plane stack', () => {
    expect(findings('pgvigil')).toEqual([]);
  });

  it('finds nothing unacknowledged in the example stack, in its private and its public layout', () => {
    expect(findings('pgvigil-example')).toEqual([]);
    expect(findings('pgvigil-example-public')).toEqual([]);
    expect(violations(result.report)).toEqual([]);
    expect(result.error).toBeUndefined();
  });

  it('acknowledges only named findings, each with its reason', () => {
    const all = acknowledgements(result.app);
    expect(all.length).toBeGreaterThan(0);
    for (const a of all) {
      expect(a.id, a.path).toMatch(/^(AwsSolutions::AwsSolutions-[A-Z]+[0-9]+(\[.+\])?|CloudFormation-Validate::[WF]\d+)$/);
      expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThan(40);
    }
    // The list is short and deliberate; a new acknowledgement must be added here on purpose.
    // aws-cdk-lib's FlowLog construct acknowledges its own CloudFormation-Validate findings.
    const ids = [...new Set(all.filter((a) => !a.path.endsWith('/Vpc/FlowLog')).map((a) => a.id))].sort();
    expect(ids).toEqual([
      'AwsSolutions::AwsSolutions-EC28',
      'AwsSolutions::AwsSolutions-EC29',
      'AwsSolutions::AwsSolutions-ELB2',
      'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetBucket*]',
      'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]',
      'AwsSolutions::AwsSolutions-IAM5[Action::s3:List*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:route53:::change/*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
      'AwsSolutions::AwsSolutions-SMG4',
      'AwsSolutions::AwsSolutions-SQS3',
      'CloudFormation-Validate::W3010',
    ]);
  });
});
