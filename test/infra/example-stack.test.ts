import { spawnSync } from 'node:child_process';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgvigilExampleStack, hostUserData } from '../../infra/example-stack.js';
import { logicalIdOf, statementsBySid, testApps } from './helpers.js';

const apps = testApps();
afterAll(apps.cleanup);

let stack: PgvigilExampleStack;
let template: Template;
/** The public layout: the Elastic IP is the only route (no load balancer, no private zone). */
let bare: Template;

beforeAll(() => {
  stack = new PgvigilExampleStack(apps.app(), 'example', { clusterId: 'demo', availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] });
  template = Template.fromStack(stack);
  bare = Template.fromStack(
    new PgvigilExampleStack(apps.app(), 'bare', { clusterId: 'demo', availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], loadBalancer: false, route53: false }),
  );
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

  it('puts the hosts in private subnets without internet: no public address, internet gateway or NAT, and no Elastic IP', () => {
    expect(stack.privateNetwork).toBe(true);
    for (const subnet of Object.values(template.findResources('AWS::EC2::Subnet'))) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
    for (const type of ['AWS::EC2::InternetGateway', 'AWS::EC2::NatGateway', 'AWS::EC2::EIP']) template.resourceCountIs(type, 0);
    for (const route of Object.values(template.findResources('AWS::EC2::Route'))) expect(route.Properties.DestinationCidrBlock).not.toBe('0.0.0.0/0');
    for (const instance of Object.values(template.findResources('AWS::EC2::Instance'))) {
      expect(JSON.stringify(instance.Properties.NetworkInterfaces ?? [])).not.toContain('AssociatePublicIpAddress');
      expect(JSON.stringify(instance.Properties.UserData)).not.toContain('vip_allocation_id');
    }
  });

  it('reaches what the hosts call through VPC endpoints: DynamoDB and S3 gateways, SSM, its messaging and Secrets Manager in every zone, from the hosts only', () => {
    const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties);
    const service = (e: Record<string, unknown>) => JSON.stringify(e.ServiceName).match(/\.(dynamodb|s3|ssm|ssmmessages|ec2messages|secretsmanager)"/)?.[1];
    expect(endpoints.filter((e) => e.VpcEndpointType === 'Gateway').map(service).sort()).toEqual(['dynamodb', 's3']);
    const interfaces = endpoints.filter((e) => e.VpcEndpointType === 'Interface');
    expect(interfaces.map(service).sort()).toEqual(['ec2messages', 'secretsmanager', 'ssm', 'ssmmessages']);
    const endpointSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'EndpointSecurityGroup');
    for (const e of interfaces) {
      expect(e.PrivateDnsEnabled).toBe(true);
      expect(e.SubnetIds).toHaveLength(3);
      expect(e.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [endpointSg, 'GroupId'] }]);
    }
  });

  it('keeps public subnets and the Elastic IP when the Elastic IP is the only route, with no interface endpoint', () => {
    for (const subnet of Object.values(bare.findResources('AWS::EC2::Subnet'))) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(true);
    bare.resourceCountIs('AWS::EC2::InternetGateway', 1);
    bare.resourceCountIs('AWS::EC2::EIP', 1);
    expect(Object.values(bare.findResources('AWS::EC2::VPCEndpoint')).map((e) => e.Properties.VpcEndpointType)).toEqual(['Gateway']);
    const eip = logicalIdOf(bare, 'AWS::EC2::EIP', 'ControlPlaneVipdemo');
    for (const instance of Object.values(bare.findResources('AWS::EC2::Instance'))) {
      expect(JSON.stringify(instance.Properties.UserData)).toContain(`"Fn::GetAtt":["${eip}","AllocationId"]`);
    }
  });

  it('refuses an Elastic IP of your own with a private route (it could not be associated without an internet gateway)', () => {
    expect(() => new PgvigilExampleStack(apps.app(), 'x', { vipAllocationId: 'eipalloc-0123456789abcdef0' })).toThrow(/vipAllocationId needs the public layout/);
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

  it('lets PostgreSQL into the nodes only from the nodes, the clients and the load balancer, and the agent API only from the nodes and the load balancer', () => {
    const nodeSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'NodeSecurityGroup');
    const clientSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'ClientSecurityGroup');
    const lbSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'LoadBalancerSecurityGroup');
    const endpointSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'EndpointSecurityGroup');
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    for (const rule of ingress) {
      expect(rule.IpProtocol).toBe('tcp');
      expect(rule.FromPort).toBe(rule.ToPort);
      expect(rule.CidrIp).toBeUndefined();
    }
    const rules = (group: string) =>
      ingress
        .filter((r) => r.GroupId['Fn::GetAtt'][0] === group)
        .map((r) => `${r.FromPort} from ${r.SourceSecurityGroupId['Fn::GetAtt'][0]}`)
        .sort();
    expect(rules(nodeSg)).toEqual([`5432 from ${clientSg}`, `5432 from ${lbSg}`, `5432 from ${nodeSg}`, `8008 from ${lbSg}`, `8008 from ${nodeSg}`].sort());
    expect(rules(lbSg)).toEqual([`5432 from ${clientSg}`, `5433 from ${clientSg}`]);
    expect(rules(endpointSg)).toEqual([`443 from ${nodeSg}`]);
    expect(ingress).toHaveLength(8);
    for (const sg of Object.values(template.findResources('AWS::EC2::SecurityGroup'))) {
      expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    }
  });

  it('lets the load balancer send only PostgreSQL and the agent health checks, only to the nodes', () => {
    const nodeSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'NodeSecurityGroup');
    const lbSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'LoadBalancerSecurityGroup');
    const lb = template.findResources('AWS::EC2::SecurityGroup')[lbSg]!.Properties;
    expect(JSON.stringify(lb.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    const egress = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties);
    expect(egress.map((r) => [r.GroupId['Fn::GetAtt'][0], r.FromPort, r.ToPort, r.DestinationSecurityGroupId['Fn::GetAtt'][0]])).toEqual([
      [lbSg, 5432, 5432, nodeSg],
      [lbSg, 8008, 8008, nodeSg],
    ]);
  });

  it('boots each host into PostgreSQL 15 and the agent of the host package under systemd, with its own role, downloading nothing from the internet', () => {
    const primary = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Node1'));
    const standby = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Node2'));
    const witness = userDataOf(logicalIdOf(template, 'AWS::EC2::Instance', 'Witness'));
    for (const ud of [primary, standby, witness]) {
      expect(ud).toContain('dnf install -y postgresql15 postgresql15-server postgresql15-contrib \\"$NODE_PKG\\" unzip');
      expect(ud).toContain("NODE_PKG='nodejs22'");
      expect(ud).toContain('unzip -qo /tmp/pgvigil-host.zip -d /opt/pgvigil');
      expect(ud).toContain('ln -sf /opt/pgvigil/dist/pgvigil-agent.mjs /usr/local/bin/pgvigil-agent');
      expect(ud).toContain('ln -sf /opt/pgvigil/dist/pgvigil.cjs /usr/local/bin/pgvigil');
      expect(ud).toContain('install -m 644 /opt/pgvigil/deploy/systemd/pgvigil-agent.service /etc/systemd/system/pgvigil-agent.service');
      expect(ud).toContain('systemctl enable --now pgvigil-agent');
      expect(ud).not.toMatch(/nodejs\.org|npm |curl -fsSL|https:\/\//);
      expect(ud).not.toContain('set -x');
    }
    expect(primary).toContain('primary register -f /etc/pgvigil/repmgr.conf');
    // A fenced former primary rejoins by itself: the primary registers the setting for the cluster.
    expect(primary).toContain('auto_rejoin=true');
    // PostgreSQL under systemd on the database nodes (started at boot, before the agent); none on the witness.
    for (const ud of [primary, standby]) expect(ud).toContain('systemctl enable --now postgresql');
    expect(witness).not.toContain('systemctl enable --now postgresql');
    // The boot guard's drop-in is in place (and systemd has read it) before PostgreSQL first starts.
    const dropIn = 'install -m 644 /opt/pgvigil/deploy/systemd/postgresql.service.d/pgvigil-startup.conf /etc/systemd/system/postgresql.service.d/';
    for (const ud of [primary, standby]) {
      expect(ud).toContain(dropIn);
      expect(ud.indexOf(dropIn)).toBeLessThan(ud.indexOf('systemctl daemon-reload'));
      expect(ud.indexOf('systemctl daemon-reload')).toBeLessThan(ud.indexOf('systemctl enable --now postgresql'));
    }
    expect(witness).not.toContain('postgresql.service.d');
    expect(standby).toContain('standby clone --fast-checkpoint -f /etc/pgvigil/repmgr.conf');
    expect(standby).toContain('standby register -f /etc/pgvigil/repmgr.conf');
    expect(witness).toContain('witness register -f /etc/pgvigil/repmgr.conf');
    // The standby learns the primary's address from CloudFormation.
    expect(standby).toContain(`"Fn::GetAtt":["${logicalIdOf(template, 'AWS::EC2::Instance', 'Node1')}","PrivateIp"]`);
    // The agent config names the state table of this stack (the VIP: see the public layout).
    expect(primary).toContain(`{"Ref":"${logicalIdOf(template, 'AWS::DynamoDB::Table', 'ControlPlaneStateTable')}"}`);
    // ... its routes, and the agent API on the host's private address with the cluster's secret.
    const lb = logicalIdOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer', 'LoadBalancer');
    for (const ud of [primary, standby, witness]) {
      expect(ud).toContain("rest_api_listen='$MY_IP:8008'");
      expect(ud).toContain(`rest_api_secret_arn='",{"Ref":"${logicalIdOf(template, 'AWS::SecretsManager::Secret', 'ControlPlaneAgentApiSecretdemo')}"}`);
      expect(ud).toContain(`route53_zone_id='",{"Ref":"${logicalIdOf(template, 'AWS::Route53::HostedZone', 'PrivateZone')}"}`);
      expect(ud).toContain("route53_record_name='primary.demo.pgvigil.internal'");
      expect(ud).toContain(`writer_endpoint='",{"Fn::GetAtt":["${lb}","DNSName"]},":5432'`);
      expect(ud).toContain(`reader_endpoint='",{"Fn::GetAtt":["${lb}","DNSName"]},":5433'`);
    }
  });

  it('writes boot scripts that bash accepts, for every role', () => {
    for (const role of ['primary', 'standby', 'witness'] as const) {
      const script = hostUserData({
        clusterId: 'demo',
        nodeId: 2,
        nodeName: 'pg2',
        role,
        tableName: 'table',
        ...(role === 'standby' ? { vipAllocationId: 'eipalloc-0123456789abcdef0' } : {}),
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
        packageUrl: 's3://bucket/key.zip',
        nodePackage: 'nodejs22',
        vpcCidr: '10.42.0.0/16',
        primaryIp: '10.42.0.10',
        agentApiSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgvigil-example/demo/agent-api-AbCdEf',
        route53ZoneId: 'Z0123456789ABCDEFGHIJ',
        route53RecordName: 'primary.demo.pgvigil.internal',
        writerEndpoint: 'lb.elb.eu-west-1.amazonaws.com:5432',
        readerEndpoint: 'lb.elb.eu-west-1.amazonaws.com:5433',
      });
      const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(check.status, `${role}: ${check.stderr}`).toBe(0);
      // The Node.js binary the unit runs (/usr/bin/node), named after the package when the package does not provide it.
      expect(script).toContain('ln -s "/usr/bin/node-${NODE_PKG#nodejs}" /usr/bin/node');
    }
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

  it('puts an internal, cross-zone Network Load Balancer with its own security group in the three subnets', () => {
    const lbSg = logicalIdOf(template, 'AWS::EC2::SecurityGroup', 'LoadBalancerSecurityGroup');
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
      SecurityGroups: [{ 'Fn::GetAtt': [lbSg, 'GroupId'] }],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    const subnets = template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(Object.values(subnets)[0]!.Properties.Subnets).toHaveLength(3);
  });

  it('routes the writer listener (5432) by GET /primary and the reader listener (5433) by GET /replica?lag=16MB, on the agent API port, with fast checks', () => {
    const groups = template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup');
    const writer = logicalIdOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'LoadBalancerWriter');
    const reader = logicalIdOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'LoadBalancerReader');
    const dataNodes = ['Node1', 'Node2', 'Node3'].map((n) => ({ Id: { Ref: logicalIdOf(template, 'AWS::EC2::Instance', n) }, Port: 5432 }));
    for (const [id, path] of [[writer, '/primary'], [reader, '/replica?lag=16MB']] as const) {
      expect(groups[id]!.Properties).toMatchObject({
        Protocol: 'TCP',
        Port: 5432,
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: '8008',
        HealthCheckPath: path,
        Matcher: { HttpCode: '200' },
        HealthCheckIntervalSeconds: 5,
        HealthCheckTimeoutSeconds: 2,
        HealthyThresholdCount: 2,
        UnhealthyThresholdCount: 2,
      });
      // The three PostgreSQL nodes, never the witness.
      expect(groups[id]!.Properties.Targets).toEqual(dataNodes);
      // A target marked down has its sessions closed (HAProxy's on-marked-down shutdown-sessions).
      expect(groups[id]!.Properties.TargetGroupAttributes).toEqual(
        expect.arrayContaining([{ Key: 'target_health_state.unhealthy.connection_termination.enabled', Value: 'true' }]),
      );
    }
    const listeners = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener')).map((l) => [
      l.Properties.Port,
      l.Properties.Protocol,
      l.Properties.DefaultActions[0].TargetGroupArn.Ref,
    ]);
    expect(listeners.sort()).toEqual([
      [5432, 'TCP', writer],
      [5433, 'TCP', reader],
    ]);
  });

  it('keeps a private hosted zone on the VPC whose primary record the controller alone may UPSERT', () => {
    const zone = logicalIdOf(template, 'AWS::Route53::HostedZone', 'PrivateZone');
    template.hasResourceProperties('AWS::Route53::HostedZone', {
      Name: 'demo.pgvigil.internal.',
      VPCs: [{ VPCId: { Ref: logicalIdOf(template, 'AWS::EC2::VPC', 'Vpc') }, VPCRegion: { Ref: 'AWS::Region' } }],
    });
    // No record in the template: CloudFormation would put it back on node 1 at the next deploy.
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    const controller = statementsBySid(template, logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneControllerPolicy'));
    expect(controller.MoveRecorddemo).toMatchObject({
      Action: 'route53:ChangeResourceRecordSets',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/', { Ref: zone }]] },
      Condition: { 'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['primary.demo.pgvigil.internal'] } },
    });
  });

  it('lets the hosts read their cluster’s agent API secret through the agent policy', () => {
    const secret = logicalIdOf(template, 'AWS::SecretsManager::Secret', 'ControlPlaneAgentApiSecretdemo');
    const agent = statementsBySid(template, logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ControlPlaneAgentPolicydemo'));
    expect(agent.ReadAgentApiSecret).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Resource: { Ref: secret } });
  });

  it('leaves the load balancer and the private zone out when asked, and the agent API port still only between the hosts', () => {
    bare.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    bare.resourceCountIs('AWS::Route53::HostedZone', 0);
    const ud = JSON.stringify(Object.values(bare.findResources('AWS::EC2::Instance'))[0]!.Properties.UserData);
    expect(ud).not.toMatch(/route53_|writer_endpoint|reader_endpoint/);
    expect(ud).toContain("rest_api_listen='$MY_IP:8008'");
    const api = Object.values(bare.findResources('AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties.FromPort === 8008);
    expect(api).toHaveLength(1);
  });

  it('refuses anything but three Availability Zones', () => {
    expect(() => new PgvigilExampleStack(apps.app(), 'x', { availabilityZones: ['a', 'b'] })).toThrow(/exactly three availabilityZones/);
  });
});
