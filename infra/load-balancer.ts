/**
 * `PgvigilLoadBalancer`: an internal Network Load Balancer in front of one cluster's PostgreSQL
 * nodes, routing by the agents' health endpoints (docs/deploy.md, "Routes to the primary"):
 *
 * - the writer listener forwards to the node whose agent answers `GET /primary` with 200 — the
 *   writable primary of the current term holding its lease (or in failsafe);
 * - the reader listener forwards to the nodes whose agent answers `GET /replica?lag=…` with 200 —
 *   streaming standbys within the lag bound.
 *
 * The Elastic IP and the Route 53 record stay available beside it; this construct moves nothing.
 * A companion of {@link PgvigilControlPlane}, used by the example stack; give it your own VPC,
 * instances and their security group to put one in front of an existing cluster.
 */
import { Duration, Validations, aws_ec2 as ec2, aws_elasticloadbalancingv2 as elbv2, aws_elasticloadbalancingv2_targets as targets } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** The agent API's port the example stack and the docs use (`rest_api_listen=<address>:8008`). */
export const AGENT_API_PORT = 8008;

/** How fast the load balancer follows the health endpoints (see docs/deploy.md for what it costs in failover time). */
export interface PgvigilHealthCheckProps {
  /**
   * Between two checks of a target, by each load balancer node.
   * @default Duration.seconds(5) (the NLB minimum)
   */
  readonly interval?: Duration;
  /**
   * How long a check may take; the agent answers from memory, in milliseconds.
   * @default Duration.seconds(2) (the NLB minimum)
   */
  readonly timeout?: Duration;
  /**
   * Passed checks in a row before a target receives connections (a new primary, a standby caught up).
   * @default 2 (the NLB minimum)
   */
  readonly healthyThresholdCount?: number;
  /**
   * Failed checks in a row before a target receives no new connections and its open ones are closed.
   * The reader group uses it too: 2 is as fast as an NLB drops a lagging standby (docs/agent.md,
   * "Network Load Balancer").
   * @default 2 (the NLB minimum)
   */
  readonly unhealthyThresholdCount?: number;
}

export interface PgvigilLoadBalancerProps {
  /** The cluster's id; names the load balancer's resources. */
  readonly clusterId: string;
  readonly vpc: ec2.IVpc;
  /**
   * Where the load balancer's nodes live: one subnet per Availability Zone of the cluster.
   * @default the VPC's private subnets (the load balancer is internal in any case)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * The cluster's PostgreSQL instances (not the witness): targets of both listeners. More can be
   * added with {@link PgvigilLoadBalancer.addInstances} (the example stack does, because its hosts'
   * configuration names this load balancer).
   * @default none yet
   */
  readonly instanceIds?: readonly string[];
  /** The instances' security group: it gets PostgreSQL and the agent API from the load balancer. */
  readonly nodeSecurityGroup: ec2.ISecurityGroup;
  /** Who may connect through the load balancer (the load balancer's own security group admits only them). */
  readonly clientSecurityGroups: readonly ec2.ISecurityGroup[];
  /** @default 5432 */
  readonly postgresPort?: number;
  /** Port of the agents' HTTP API (`rest_api_listen`). @default {@link AGENT_API_PORT} */
  readonly apiPort?: number;
  /** @default 5432 */
  readonly writerPort?: number;
  /** A port of its own, so one load balancer serves both routes. @default 5433 */
  readonly readerPort?: number;
  /**
   * Largest lag of a standby the reader listener still routes to: bytes (`16777216`), a size
   * (`16MB`), or seconds of replay lag (`10s`) — the agent's `/replica?lag=` syntax.
   * @default '16MB'
   */
  readonly readerMaxLag?: string;
  /** @default see {@link PgvigilHealthCheckProps} */
  readonly healthCheck?: PgvigilHealthCheckProps;
}

const LAG = /^(\d+(kB|MB|GB|TB)?|\d+s)$/;

export class PgvigilLoadBalancer extends Construct {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly securityGroup: ec2.SecurityGroup;
  readonly writerTargetGroup: elbv2.NetworkTargetGroup;
  readonly readerTargetGroup: elbv2.NetworkTargetGroup;
  /** `host:port` of the writer listener (`writer_endpoint`). */
  readonly writerEndpoint: string;
  /** `host:port` of the reader listener (`reader_endpoint`). */
  readonly readerEndpoint: string;
  private readonly postgresPort: number;
  private instanceCount = 0;

  constructor(scope: Construct, id: string, props: PgvigilLoadBalancerProps) {
    super(scope, id);
    const postgresPort = props.postgresPort ?? 5432;
    const apiPort = props.apiPort ?? AGENT_API_PORT;
    const writerPort = props.writerPort ?? 5432;
    const readerPort = props.readerPort ?? 5433;
    const lag = props.readerMaxLag ?? '16MB';
    const problems: string[] = [];
    if (!LAG.test(lag)) problems.push(`readerMaxLag "${lag}" is not bytes, a size (16MB) or seconds (10s)`);
    if (writerPort === readerPort) problems.push(`writerPort and readerPort are both ${writerPort}: one load balancer needs a port per route`);
    if (problems.length > 0) throw new Error(`PgvigilLoadBalancer: invalid props:\n  ${problems.join('\n  ')}`);

    // Its own group: clients in, and out only to the nodes (health checks obey the outbound rules).
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `pgvigil ${props.clusterId}: load balancer (clients in; PostgreSQL and agent health checks out to the nodes)`,
      allowAllOutbound: false,
    });
    for (const client of props.clientSecurityGroups) {
      this.securityGroup.addIngressRule(client, ec2.Port.tcp(writerPort), 'PostgreSQL clients: writer route');
      this.securityGroup.addIngressRule(client, ec2.Port.tcp(readerPort), 'PostgreSQL clients: reader route');
    }
    // Referencing the load balancer's group admits its traffic even with client IP preservation on.
    this.securityGroup.addEgressRule(props.nodeSecurityGroup, ec2.Port.tcp(postgresPort), 'PostgreSQL to the nodes');
    this.securityGroup.addEgressRule(props.nodeSecurityGroup, ec2.Port.tcp(apiPort), 'health checks of the agent API');
    props.nodeSecurityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(postgresPort), 'PostgreSQL through the load balancer');
    props.nodeSecurityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(apiPort), 'agent API health checks from the load balancer');

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      internetFacing: false,
      // A primary in one zone must be reachable from clients in every zone.
      crossZoneEnabled: true,
      securityGroups: [this.securityGroup],
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions::AwsSolutions-ELB2',
      reason:
        'Network Load Balancer access logs are written for TLS listeners only; these listeners are TCP (PostgreSQL negotiates ' +
        'its own TLS), so a log bucket would stay empty. The VPC flow logs record the connections.',
    });

    const hc = props.healthCheck ?? {};
    const targetGroup = (name: string, path: string): elbv2.NetworkTargetGroup => {
      const group = new elbv2.NetworkTargetGroup(this, name, {
        vpc: props.vpc,
        port: postgresPort,
        protocol: elbv2.Protocol.TCP,
        targetType: elbv2.TargetType.INSTANCE,
        // A node that leaves the group (replaced instance) has its connections closed at once.
        deregistrationDelay: Duration.seconds(0),
        connectionTermination: true,
        healthCheck: {
          protocol: elbv2.Protocol.HTTP,
          port: String(apiPort),
          path,
          healthyHttpCodes: '200',
          interval: hc.interval ?? Duration.seconds(5),
          timeout: hc.timeout ?? Duration.seconds(2),
          healthyThresholdCount: hc.healthyThresholdCount ?? 2,
          unhealthyThresholdCount: hc.unhealthyThresholdCount ?? 2,
        },
      });
      // HAProxy's on-marked-down shutdown-sessions: a target marked unhealthy (a demoted or fenced
      // primary) has its open connections closed, not left to write into a read-only server.
      group.setAttribute('target_health_state.unhealthy.connection_termination.enabled', 'true');
      return group;
    };
    this.writerTargetGroup = targetGroup('Writer', '/primary');
    this.readerTargetGroup = targetGroup('Reader', `/replica?lag=${lag}`);
    this.loadBalancer.addListener('WriterListener', { port: writerPort, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [this.writerTargetGroup] });
    this.loadBalancer.addListener('ReaderListener', { port: readerPort, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [this.readerTargetGroup] });
    this.writerEndpoint = `${this.loadBalancer.loadBalancerDnsName}:${writerPort}`;
    this.readerEndpoint = `${this.loadBalancer.loadBalancerDnsName}:${readerPort}`;
    this.postgresPort = postgresPort;
    this.addInstances(...(props.instanceIds ?? []));
    this.node.addValidation({
      validate: () => (this.instanceCount === 0 ? ['PgvigilLoadBalancer: no PostgreSQL instance was given (instanceIds or addInstances)'] : []),
    });
  }

  /** Registers PostgreSQL instances with both target groups. */
  addInstances(...instanceIds: string[]): void {
    for (const instanceId of instanceIds) {
      this.writerTargetGroup.addTarget(new targets.InstanceIdTarget(instanceId, this.postgresPort));
      this.readerTargetGroup.addTarget(new targets.InstanceIdTarget(instanceId, this.postgresPort));
      this.instanceCount += 1;
    }
  }
}
