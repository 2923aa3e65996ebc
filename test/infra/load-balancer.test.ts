import { Duration, Stack, aws_ec2 as ec2 } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { PgvigilLoadBalancer, type PgvigilLoadBalancerProps } from '../../infra/load-balancer.js';
import { testApps } from './helpers.js';

const apps = testApps();
afterAll(apps.cleanup);

/** A stack with a VPC and a node security group, and the load balancer built by `props`. */
function build(props: (vpc: ec2.Vpc, nodes: ec2.SecurityGroup, clients: ec2.SecurityGroup) => Partial<PgvigilLoadBalancerProps>): Stack {
  const stack = new Stack(apps.app(), 'lb');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const nodes = new ec2.SecurityGroup(stack, 'Nodes', { vpc });
  const clients = new ec2.SecurityGroup(stack, 'Clients', { vpc });
  new PgvigilLoadBalancer(stack, 'Lb', {
    clusterId: 'orders',
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    nodeSecurityGroup: nodes,
    clientSecurityGroups: [clients],
    instanceIds: ['i-0123456789abcdef0', 'i-0123456789abcdef1'],
    ...props(vpc, nodes, clients),
  });
  return stack;
}

describe('PgvigilLoadBalancer', () => {
  it('takes the health-check pace, the lag bound and the ports it is given', () => {
    const template = Template.fromStack(
      build(() => ({
        readerMaxLag: '10s',
        writerPort: 6432,
        readerPort: 6433,
        apiPort: 9008,
        healthCheck: { interval: Duration.seconds(10), timeout: Duration.seconds(3), healthyThresholdCount: 3, unhealthyThresholdCount: 4 },
      })),
    );
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/replica?lag=10s',
      HealthCheckPort: '9008',
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 3,
      HealthyThresholdCount: 3,
      UnhealthyThresholdCount: 4,
      Targets: [
        { Id: 'i-0123456789abcdef0', Port: 5432 },
        { Id: 'i-0123456789abcdef1', Port: 5432 },
      ],
    });
    const ports = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener')).map((l) => l.Properties.Port);
    expect(ports.sort()).toEqual([6432, 6433]);
  });

  it('refuses a lag bound the agent would not read and one port for both routes, naming each', () => {
    expect(() => build(() => ({ readerMaxLag: '16 megabytes', readerPort: 5432 }))).toThrow(
      /readerMaxLag "16 megabytes" is not bytes, a size \(16MB\) or seconds \(10s\)\n.*writerPort and readerPort are both 5432/,
    );
  });

  it('fails synthesis when no PostgreSQL instance was registered', () => {
    const stack = build(() => ({ instanceIds: [] }));
    expect(() => Template.fromStack(stack)).toThrow(/no PostgreSQL instance was given/);
  });
});
