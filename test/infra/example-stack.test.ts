import { spawnSync } from 'node:child_process';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK_AGENT_UNIT, PgvigilExampleStack, hostUserData } from '../../infra/example-stack.js';
import { logicalIdOf, testApps } from './helpers.js';

const apps = testApps();
afterAll(apps.cleanup);

let stack: PgvigilExampleStack;
let template: Template;

beforeAll(() => {
  stack = new PgvigilExampleStack(apps.app(), 'example', { clusterId: 'demo', availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] });
  template = Template.fromStack(stack);
});

const userDataOf = (id: string): string =>
  JSON.stringify(template.findResources('AWS::EC2::Instance')[id]!.Properties.UserData['Fn::Base64']);

describe('the example stack', () => {
  it('spreads a VPC over the three given Availability Zones', () => {
    template.resourceCountIs('AWS::EC2::Subnet', 3);
    const azs = Object.values(template.findResources('AWS::EC2::Subnet')).map((s) => s.Properties.AvailabilityZone);
    expect(azs.sort()).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({}) });
  });

  it('runs three PostgreSQL nodes, one per zone, and a witness, all tagged with the cluster', () => {
    template.resourceCountIs('AWS::EC2::Instance', 4);
    const expected: Array<[string, string, string]> = [
      ['Node1', 'eu-west-1a', '1'],
      ['Node2', 'eu-west-1b', '2'],
      ['Node3', 'eu-west-1c', '3'],
      ['Witness', 'eu-west-1c', '4'],
    ];
    for (const [prefix, az, nodeId] of expected) {
      const id = logicalIdOf(template, 'AWS::EC2::Instance', prefix);
      const props = template.findResources('AWS::EC2::Instance')[id]!.Properties;
      expect(props.AvailabilityZone, prefix).toBe(az);
      expect(props.Tags).toEqual(expect.arrayContaining([{ Key: 'pgvigil:cluster', Value: 'demo' }, { Key: 'pgvigil:node-id', Value: nodeId }]));
      expect(props.BlockDeviceMappings[0].Ebs.Encrypted).toBe(true);
    }
    // IMDSv2 only (the agent reads its instance id from IMDSv2).
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } } });
  });

  it('gives the hosts an instance profile with the SSM managed policy and the agent policy of their cluster', () => {
    const role = logicalIdOf(template, 'AWS::IAM::Role', 'NodeRole');
    const agentPolicy = logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicydemo');
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] },
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] },
        { Ref: agentPolicy },
      ],
    });
    for (const profile of Object.values(template.findResources('AWS::IAM::InstanceProfile'))) {
      expect(profile.Properties.Roles).toEqual([{ Ref: role }]);
    }
    template.resourceCountIs('AWS::IAM::InstanceProfile', 4);
  });

  it('lets only PostgreSQL in, and only from the nodes themselves and from the client group', () => {
    const nodeSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'NodeSecurityGroup');
    const clientSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'ClientSecurityGroup');
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toHaveLength(2);
    for (const rule of ingress) {
      expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, GroupId: { 'Fn::GetAtt': [nodeSg, 'GroupId'] } });
      expect(rule.CidrIp).toBeUndefined();
    }
    expect(ingress.map((r) => r.SourceSecurityGroupId['Fn::GetAtt'][0]).sort()).toEqual([clientSg, nodeSg].sort());
    for (const sg of Object.values(template.findResources('AWS::EC2::SecurityGroup'))) {
      expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    }
  });

  it('boots each host into PostgreSQL 15 and the agent under systemd, with its own role', () => {
    const primary = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Node1'));
    const standby = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Node2'));
    const witness = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Witness'));
    for (const ud of [primary, standby, witness]) {
      expect(ud).toContain('dnf install -y postgresql15 postgresql15-server');
      expect(ud).toContain('ln -sf /opt/pgvigil/bin/pgvigil-agent.js /usr/local/bin/pgvigil-agent');
      expect(ud).toContain('deploy/systemd/pgvigil-agent.service');
      expect(ud).toContain('systemctl enable --now pgvigil-agent');
      expect(ud).toContain('ln -s /opt/node/bin/node /usr/bin/node');
      expect(ud).not.toContain('set -x');
    }
    expect(primary).toContain('primary register -f /etc/pgvigil/repmgr.conf');
    // A fenced former primary rejoins by itself: the primary registers the setting for the cluster.
    expect(primary).toContain('auto_rejoin=true');
    // PostgreSQL under systemd on the database nodes (started at boot, before the agent); none on the witness.
    for (const ud of [primary, standby]) expect(ud).toContain('systemctl enable --now postgresql');
    expect(witness).not.toContain('systemctl enable --now postgresql');
    expect(standby).toContain('standby clone -f /etc/pgvigil/repmgr.conf');
    expect(standby).toContain('standby register -f /etc/pgvigil/repmgr.conf');
    expect(witness).toContain('witness register -f /etc/pgvigil/repmgr.conf');
    // The standby learns the primary's address from CloudFormation.
    expect(standby).toContain(`"Fn::GetAtt":["${logicalIdOf(template, 'AWS::EC2::Instance', 'Node1')}","PrivateIp"]`);
    // The agent config names the state table and the VIP of this stack.
    expect(primary).toContain(`{"Ref":"${logicalIdOf(template, 'AWS::DynamoDB::Table', 'ControlPlaneStateTable')}"}`);
    expect(primary).toContain(`"Fn::GetAtt":["${logicalIdOf(template, 'AWS::EC2::EIP', 'ControlPlaneVipdemo')}","AllocationId"]`);
  });

  it('writes boot scripts that bash accepts, for every role', () => {
    for (const role of ['primary', 'standby', 'witness'] as const) {
      const script = hostUserData({
        clusterId: 'demo',
        nodeId: 2,
        nodeName: 'pg2',
        role,
        tableName: 'table',
        vipAllocationId: 'eipalloc-0123456789abcdef0',
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
        sourceUrl: 's3://bucket/key.zip',
        nodeVersion: '22.12.0',
        vpcCidr: '10.42.0.0/16',
        primaryIp: '10.42.0.10',
      });
      const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(check.status, `${role}: ${check.stderr}`).toBe(0);
    }
    expect(FALLBACK_AGENT_UNIT).toMatch(/^Restart=always$/m);
    expect(FALLBACK_AGENT_UNIT).toMatch(/^ExecStart=\/usr\/local\/bin\/pgvigil-agent run -f \/etc\/pgvigil\/repmgr\.conf$/m);
  });

  it('keeps the replication password in Secrets Manager and readable by the hosts only', () => {
    const secret = logicalIdOf(template, 'AWS::SecretsManager::Secret', 'ReplicationPassword');
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: { Ref: secret } }),
        ]),
      },
      Roles: [{ Ref: logicalIdOf(template, 'AWS::IAM::Role', 'NodeRole') }],
    });
  });

  it('refuses anything but three Availability Zones', () => {
    expect(() => new PgvigilExampleStack(apps.app(), 'x', { availabilityZones: ['a', 'b'] })).toThrow(/exactly three availabilityZones/);
  });
});
