/**
 * A complete example: a VPC across three Availability Zones, three PostgreSQL 15 nodes (one per AZ)
 * and a witness, the agents under systemd, and the pgvigil control plane watching them.
 *
 * Network design (docs/deploy.md, "The example stack's network"): whenever a route to the primary is private
 * (the load balancer or the Route 53 record, the default) the hosts live in private subnets with no
 * public address, no NAT and no internet: VPC endpoints carry what they call (SSM and its messaging
 * endpoints, Secrets Manager, the DynamoDB and S3 gateways; S3 also serves the host package and the
 * distribution's packages), and the cluster has no Elastic IP, which needs an internet gateway. With
 * neither private route the Elastic IP is the route and the hosts keep public subnets. Either way
 * they accept nothing but PostgreSQL from the cluster's own nodes, from
 * {@link PgvigilExampleStack.clientSecurityGroup} and from the load balancer, and the agents' HTTP
 * API from each other and from the load balancer.
 *
 * Routes to the primary (docs/deploy.md): the Elastic IP's public DNS name (inside the VPC it
 * resolves to the private address of the instance it is associated with), an internal Network
 * Load Balancer with a writer and a reader listener that follow the agents' health endpoints, and
 * an A record in a private hosted zone that the controller moves with the primary.
 */
import {
  Aws,
  CfnOutput,
  Stack,
  Tags,
  Validations,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_route53 as route53,
  aws_s3_assets as s3assets,
  aws_secretsmanager as secretsmanager,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ARTIFACTS, builtArtifact } from '../build/artifacts.js';
import { POSTGRESQL_DROP_IN, SYSTEMD_UNIT } from '../build/host-package.js';
import { CLUSTER_TAG, PgvigilControlPlane } from './construct.js';
import { AGENT_API_PORT, PgvigilLoadBalancer } from './load-balancer.js';
import { DEFAULT_CONFIG_FILE } from './ssm-documents.js';

const DATA_DIRECTORY = '/var/lib/pgsql/data';

export interface PgvigilExampleStackProps extends StackProps {
  /** @default 'example' */
  readonly clusterId?: string;
  /**
   * The three Availability Zones (node 1 in the first, node 2 in the second, node 3 and the witness
   * in the third).
   * @default `<region>a`, `<region>b`, `<region>c` of the stack's region (us-east-1 when env-agnostic)
   */
  readonly availabilityZones?: readonly string[];
  /**
   * Use an existing Elastic IP as the VIP (public layout only: `loadBalancer: false, route53: false`).
   * @default a new one in the public layout, none in the private one
   */
  readonly vipAllocationId?: string;
  /** @default t4g.small (Graviton; the AMI is chosen to match) */
  readonly instanceType?: ec2.InstanceType;
  /** @default t4g.nano */
  readonly witnessInstanceType?: ec2.InstanceType;
  /**
   * The Amazon Linux 2023 package that installs Node.js on the hosts (≥ 20.19; no download).
   * @default 'nodejs22'
   */
  readonly nodePackage?: string;
  /** @default 'pgvigil-example' (distinct from the standalone control plane's documents) */
  readonly documentPrefix?: string;
  /**
   * An internal Network Load Balancer with writer (5432) and reader (5433) listeners.
   * @default true
   */
  readonly loadBalancer?: boolean;
  /**
   * A private hosted zone `<clusterId>.pgvigil.internal` whose record `primary.<zone>` follows the primary.
   * @default true
   */
  readonly route53?: boolean;
}

type Role = 'primary' | 'standby' | 'witness';

export class PgvigilExampleStack extends Stack {
  readonly controlPlane: PgvigilControlPlane;
  readonly vpc: ec2.Vpc;
  readonly nodeSecurityGroup: ec2.SecurityGroup;
  /** Give this group to your application's instances: it may reach PostgreSQL on the nodes. */
  readonly clientSecurityGroup: ec2.SecurityGroup;
  readonly instances: ec2.Instance[] = [];
  /** The writer/reader load balancer, unless `loadBalancer: false`. */
  readonly loadBalancer?: PgvigilLoadBalancer;
  /** The private zone of the primary's record, unless `route53: false`. */
  readonly hostedZone?: route53.PrivateHostedZone;
  /** True when the hosts live in private subnets without internet (a private route to the primary). */
  readonly privateNetwork: boolean;
  private readonly azs: string[];

  constructor(scope: Construct, id: string, props: PgvigilExampleStackProps = {}) {
    super(scope, id, { description: 'pgvigil example: three PostgreSQL nodes and a witness across three AZs', ...props });
    const region = props.env?.region ?? 'us-east-1';
    this.azs = [...(props.availabilityZones ?? ['a', 'b', 'c'].map((s) => `${region}${s}`))];
    if (this.azs.length !== 3) throw new Error(`PgvigilExampleStack: exactly three availabilityZones are needed, got ${this.azs.length}`);
    const clusterId = props.clusterId ?? 'example';
    this.privateNetwork = props.loadBalancer !== false || props.route53 !== false;
    if (this.privateNetwork && props.vipAllocationId !== undefined) {
      throw new Error(
        'PgvigilExampleStack: vipAllocationId needs the public layout (loadBalancer: false, route53: false): ' +
          'the private layout has no internet gateway, and an Elastic IP cannot be associated without one',
      );
    }
    const subnetType = this.privateNetwork ? ec2.SubnetType.PRIVATE_ISOLATED : ec2.SubnetType.PUBLIC;
    Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: 'One node per Availability Zone is the point of this stack; the zones come from props/context, not from a guess.',
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: 3,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType, cidrMask: 24, ...(this.privateNetwork ? {} : { mapPublicIpOnLaunch: true }) }],
      // DynamoDB traffic stays on the AWS network (a free gateway endpoint); in the private layout S3
      // too: the host package and Amazon Linux's package repositories are S3 objects.
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        ...(this.privateNetwork ? { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } } : {}),
      },
    });
    this.vpc.addFlowLog('FlowLog');

    let record: { hostedZoneId: string; recordName: string } | undefined;
    if (props.route53 !== false) {
      this.hostedZone = new route53.PrivateHostedZone(this, 'PrivateZone', {
        zoneName: `${clusterId}.pgvigil.internal`,
        vpc: this.vpc,
        comment: `pgvigil ${clusterId}: the record primary.${clusterId}.pgvigil.internal follows the primary`,
      });
      record = { hostedZoneId: this.hostedZone.hostedZoneId, recordName: `primary.${clusterId}.pgvigil.internal` };
    }
    this.controlPlane = new PgvigilControlPlane(this, 'ControlPlane', {
      clusters: [
        {
          clusterId,
          vipAllocationId: props.vipAllocationId,
          ...(this.privateNetwork ? { elasticIp: false } : {}),
          ...(record ? { route53Record: record } : {}),
        },
      ],
      documentPrefix: props.documentPrefix ?? 'pgvigil-example',
    });

    this.nodeSecurityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc: this.vpc,
      description: 'pgvigil nodes: PostgreSQL from the nodes, the clients and the load balancer; the agent API from the nodes and the load balancer',
      allowAllOutbound: true,
    });
    this.clientSecurityGroup = new ec2.SecurityGroup(this, 'ClientSecurityGroup', {
      vpc: this.vpc,
      description: 'pgvigil clients: may connect to PostgreSQL on the nodes',
      allowAllOutbound: true,
    });
    this.nodeSecurityGroup.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(5432), 'PostgreSQL between nodes (replication, checks)');
    this.nodeSecurityGroup.addIngressRule(this.clientSecurityGroup, ec2.Port.tcp(5432), 'PostgreSQL from clients');
    this.nodeSecurityGroup.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(AGENT_API_PORT), 'agent API between the hosts (failsafe confirmations)');
    if (this.privateNetwork) this.addEndpoints(clusterId);
    if (props.loadBalancer !== false) {
      this.loadBalancer = new PgvigilLoadBalancer(this, 'LoadBalancer', {
        clusterId,
        vpc: this.vpc,
        vpcSubnets: { subnetType },
        nodeSecurityGroup: this.nodeSecurityGroup,
        clientSecurityGroups: [this.clientSecurityGroup],
        apiPort: AGENT_API_PORT,
      });
    }

    const secret = new secretsmanager.Secret(this, 'ReplicationPassword', {
      description: `pgvigil example ${clusterId}: password of the repmgr role (replication and checks)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason: "Rotating the repmgr password means ALTER ROLE on the primary and a new .pgpass on every node at once; the example leaves that to the operator.",
    });

    // The agent and the CLI ship as the build's host package (docs/deploy.md, "The host package").
    const hostPackage = new s3assets.Asset(this, 'HostPackage', { path: builtArtifact(ARTIFACTS.hostPackage) });

    const role = new iam.Role(this, 'NodeRole', {
      description: `pgvigil example ${clusterId}: PostgreSQL nodes and witness`,
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.controlPlane.grantAgent(role, clusterId);
    secret.grantRead(role);
    hostPackage.grantRead(role);
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'The SSM agent on the hosts needs AmazonSSMManagedInstanceCore to receive the Run Command documents pgvigil sends.',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetBucket*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the host package).',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the host package).',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:List*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the host package).',
      },
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]`,
        reason: 'Objects of the CDK asset bucket: the host package is one of them, with a content-hash key.',
      },
    );

    const vipAllocationId = this.controlPlane.vipAllocationId(clusterId);
    const common = {
      clusterId,
      tableName: this.controlPlane.table.tableName,
      ...(vipAllocationId ? { vipAllocationId } : {}),
      agentApiSecretArn: this.controlPlane.agentApiSecret(clusterId).secretArn,
      ...(record ? { route53ZoneId: record.hostedZoneId, route53RecordName: record.recordName } : {}),
      ...(this.loadBalancer ? { writerEndpoint: this.loadBalancer.writerEndpoint, readerEndpoint: this.loadBalancer.readerEndpoint } : {}),
      secretArn: secret.secretArn,
      packageUrl: hostPackage.s3ObjectUrl,
      nodePackage: props.nodePackage ?? 'nodejs22',
      vpcCidr: this.vpc.vpcCidrBlock,
    };
    const machineImage = ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 });
    const host = (nodeId: number, hostRole: Role, az: string, instanceType: ec2.InstanceType, primaryIp?: string): ec2.Instance => {
      const name = hostRole === 'witness' ? `witness${nodeId}` : `pg${nodeId}`;
      const instance = new ec2.Instance(this, hostRole === 'witness' ? 'Witness' : `Node${nodeId}`, {
        vpc: this.vpc,
        vpcSubnets: { subnetType, availabilityZones: [az] },
        instanceType,
        machineImage,
        role,
        securityGroup: this.nodeSecurityGroup,
        requireImdsv2: true,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(hostRole === 'witness' ? 8 : 30, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
          },
        ],
        userData: ec2.UserData.custom(hostUserData({ ...common, nodeId, nodeName: name, role: hostRole, primaryIp })),
        userDataCausesReplacement: true,
      });
      Tags.of(instance).add(CLUSTER_TAG, clusterId);
      Tags.of(instance).add('pgvigil:node-id', String(nodeId));
      Tags.of(instance).add('Name', `pgvigil-${clusterId}-${name}`);
      Validations.of(instance).acknowledge(
        { id: 'AwsSolutions::AwsSolutions-EC28', reason: "pgvigil's own heartbeats (every 5 s) and metrics watch the hosts; 1-minute EC2 metrics add cost, not insight." },
        { id: 'AwsSolutions::AwsSolutions-EC29', reason: 'Example stack: it must be removable with cdk destroy. Enable termination protection on production database hosts.' },
      );
      this.instances.push(instance);
      return instance;
    };
    const instanceType = props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL);
    const primary = host(1, 'primary', this.azs[0]!, instanceType);
    const standbys = [host(2, 'standby', this.azs[1]!, instanceType, primary.instancePrivateIp), host(3, 'standby', this.azs[2]!, instanceType, primary.instancePrivateIp)];
    this.loadBalancer?.addInstances(...[primary, ...standbys].map((i) => i.instanceId));
    host(
      4,
      'witness',
      this.azs[2]!,
      props.witnessInstanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
      primary.instancePrivateIp,
    );

    new CfnOutput(this, 'ClusterId', { value: clusterId });
    new CfnOutput(this, 'TableName', { value: this.controlPlane.table.tableName, description: 'state_table' });
    if (vipAllocationId) new CfnOutput(this, 'VipAllocationId', { value: vipAllocationId });
    new CfnOutput(this, 'DocumentPrefix', { value: this.controlPlane.documentPrefix });
    new CfnOutput(this, 'SwitchoverDocumentName', { value: this.controlPlane.switchoverDocumentName });
    new CfnOutput(this, 'AgentApiSecretArn', { value: common.agentApiSecretArn, description: 'rest_api_secret_arn' });
    if (this.loadBalancer) {
      new CfnOutput(this, 'WriterEndpoint', { value: this.loadBalancer.writerEndpoint, description: 'writer_endpoint: the load balancer route to the primary' });
      new CfnOutput(this, 'ReaderEndpoint', { value: this.loadBalancer.readerEndpoint, description: 'reader_endpoint: the load balancer route to the standbys' });
    }
    if (record) {
      new CfnOutput(this, 'PrimaryRecordName', { value: record.recordName, description: 'route53_record_name: follows the primary (inside the VPC)' });
      new CfnOutput(this, 'PrivateHostedZoneId', { value: record.hostedZoneId, description: 'route53_zone_id' });
    }
  }

  /**
   * The interface endpoints the hosts call in the private layout, each in every zone (a host must
   * be fenced and must boot in whichever zone survives), reachable from the hosts only. No EC2 or
   * CloudWatch Logs endpoint: the hosts call neither (the controller's functions, outside the VPC, do).
   */
  private addEndpoints(clusterId: string): void {
    const group = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: `pgvigil example ${clusterId}: VPC interface endpoints (HTTPS from the hosts only)`,
      allowAllOutbound: false,
    });
    group.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(443), 'AWS APIs from the hosts');
    const services: Array<[string, ec2.InterfaceVpcEndpointAwsService]> = [
      // Run Command (every host action of the controller) and the SSM agent's own channel.
      ['Ssm', ec2.InterfaceVpcEndpointAwsService.SSM],
      ['SsmMessages', ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES],
      ['Ec2Messages', ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES],
      // The repmgr password at boot and the agent API secret when an agent starts.
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ];
    for (const [name, service] of services) {
      this.vpc.addInterfaceEndpoint(name, { service, privateDnsEnabled: true, open: false, securityGroups: [group] });
    }
  }

  /** Three fixed AZs, also when the stack is environment-agnostic (offline synth). */
  override get availabilityZones(): string[] {
    return this.azs;
  }
}

interface HostOptions {
  clusterId: string;
  nodeId: number;
  nodeName: string;
  role: Role;
  tableName: string;
  vipAllocationId?: string;
  secretArn: string;
  /** S3 URL of the host package. */
  packageUrl: string;
  nodePackage: string;
  vpcCidr: string;
  primaryIp?: string;
  agentApiSecretArn: string;
  route53ZoneId?: string;
  route53RecordName?: string;
  writerEndpoint?: string;
  readerEndpoint?: string;
}

/**
 * The boot script of one host. CloudFormation tokens (table name, primary address …) are spliced
 * in by CDK. Deliberately no `set -x`: the repmgr password passes through a variable.
 */
export function hostUserData(o: HostOptions): string {
  const agent = `sudo -u postgres /usr/local/bin/pgvigil-agent`;
  const lines = [
    '#!/bin/bash',
    'set -euo pipefail',
    'exec >>/var/log/pgvigil-bootstrap.log 2>&1',
    `CLUSTER='${o.clusterId}' NODE_ID=${o.nodeId} NODE_NAME='${o.nodeName}' ROLE='${o.role}'`,
    `REGION='${Aws.REGION}' TABLE='${o.tableName}' VIP='${o.vipAllocationId ?? ''}' SECRET_ARN='${o.secretArn}'`,
    `NODE_PKG='${o.nodePackage}' PRIMARY_IP='${o.primaryIp ?? ''}' VPC_CIDR='${o.vpcCidr}'`,
    'TOKEN=$(curl -sfX PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 600")',
    'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
    'MY_IP=$(md local-ipv4); AZ=$(md placement/availability-zone); INSTANCE_ID=$(md instance-id)',
    '',
    '# PostgreSQL 15 and Node.js from the distribution (Amazon Linux 2023 packages, binaries in /usr/bin):',
    '# its repositories are S3 objects, so this works without internet through the S3 gateway endpoint',
    'dnf install -y postgresql15 postgresql15-server postgresql15-contrib "$NODE_PKG" unzip',
    '[ -e /usr/bin/node ] || ln -s "/usr/bin/node-${NODE_PKG#nodejs}" /usr/bin/node  # the agent unit runs /usr/bin/node',
    '',
    '# the agent and the CLI: the host package from the CDK asset (bundles, no npm, no node_modules)',
    `aws s3 cp '${o.packageUrl}' /tmp/pgvigil-host.zip --region "$REGION"`,
    'mkdir -p /opt/pgvigil && unzip -qo /tmp/pgvigil-host.zip -d /opt/pgvigil && rm -f /tmp/pgvigil-host.zip',
    `ln -sf /opt/pgvigil/${ARTIFACTS.agent} /usr/local/bin/pgvigil-agent`,
    `ln -sf /opt/pgvigil/${ARTIFACTS.cliCommand} /usr/local/bin/pgvigil`,
    '',
    '# the repmgr password, for libpq only (never in the config file or DynamoDB)',
    'PW=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ARN" --region "$REGION" --query SecretString --output text)',
    'install -o postgres -g postgres -m 600 /dev/null /var/lib/pgsql/.pgpass',
    "printf '*:*:*:repmgr:%s\\n' \"$PW\" > /var/lib/pgsql/.pgpass",
    '',
    `mkdir -p /etc/pgvigil && cat > ${DEFAULT_CONFIG_FILE} <<EOF`,
    'node_id=$NODE_ID',
    "node_name='$NODE_NAME'",
    "conninfo='host=$MY_IP user=repmgr dbname=repmgr connect_timeout=2'",
    `data_directory='${DATA_DIRECTORY}'`,
    "pg_bindir='/usr/bin'",
    "replication_user='repmgr'",
    'use_replication_slots=true',
    "location='$AZ'",
    `priority=${o.role === 'witness' ? 0 : 100}`,
    "cluster_id='$CLUSTER'",
    "aws_region='$REGION'",
    "state_table='$TABLE'",
    "instance_id='$INSTANCE_ID'",
    ...(o.vipAllocationId ? ["vip_allocation_id='$VIP'"] : []),
    // A fenced former primary rewinds and rejoins as a standby by itself (docs/controller.md).
    'auto_rejoin=true',
    // The agent's HTTP API on the private address: load balancer health checks and failsafe confirmations.
    `rest_api_listen='$MY_IP:${AGENT_API_PORT}'`,
    `rest_api_secret_arn='${o.agentApiSecretArn}'`,
    ...(o.route53ZoneId && o.route53RecordName ? [`route53_zone_id='${o.route53ZoneId}'`, `route53_record_name='${o.route53RecordName}'`] : []),
    ...(o.writerEndpoint ? [`writer_endpoint='${o.writerEndpoint}'`] : []),
    ...(o.readerEndpoint ? [`reader_endpoint='${o.readerEndpoint}'`] : []),
    'EOF',
    'chown -R postgres:postgres /etc/pgvigil',
    '',
  ];
  if (o.role !== 'witness') {
    lines.push(
      // Before PostgreSQL is first enabled: from then on every start of the unit, at boot too, runs
      // the boot guard first (docs/agent.md). On a fresh primary the cluster has no record yet, so
      // nothing is held read-only.
      '# the boot guard: PostgreSQL starts read-only on a former primary the cluster has replaced',
      'mkdir -p /etc/systemd/system/postgresql.service.d',
      `install -m 644 /opt/pgvigil/${POSTGRESQL_DROP_IN} /etc/systemd/system/postgresql.service.d/`,
      'systemctl daemon-reload',
      '',
    );
  }
  if (o.role === 'primary') {
    lines.push(
      '# primary: initdb, replication settings, the repmgr role, register',
      `sudo -u postgres /usr/bin/initdb -D ${DATA_DIRECTORY} --data-checksums`,
      `cat >> ${DATA_DIRECTORY}/postgresql.conf <<EOF`,
      "listen_addresses = '*'",
      'wal_level = replica',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      'hot_standby = on',
      'wal_log_hints = on',
      "password_encryption = 'scram-sha-256'",
      'EOF',
      `cat >> ${DATA_DIRECTORY}/pg_hba.conf <<EOF`,
      'host repmgr      repmgr $VPC_CIDR scram-sha-256',
      'host replication repmgr $VPC_CIDR scram-sha-256',
      'EOF',
      // systemd starts PostgreSQL at boot, after the boot guard; the agent (After=postgresql.service)
      // then applies the same startup rule to the running server.
      'systemctl enable --now postgresql',
      "sudo -u postgres /usr/bin/psql -v ON_ERROR_STOP=1 -v pw=\"$PW\" <<'SQL'",
      "CREATE ROLE repmgr SUPERUSER LOGIN PASSWORD :'pw';",
      'CREATE DATABASE repmgr OWNER repmgr;',
      'SQL',
      `${agent} primary register -f ${DEFAULT_CONFIG_FILE}`,
    );
  } else if (o.role === 'standby') {
    lines.push(
      '# standby: wait for the registered primary, clone, start, register',
      'until /usr/bin/pg_isready -h "$PRIMARY_IP" -p 5432; do sleep 5; done',
      `until ${agent} standby clone --dry-run --fast-checkpoint -f ${DEFAULT_CONFIG_FILE}; do sleep 10; done`,
      // A fast checkpoint: the new primary is idle, so a spread one (pg_basebackup's default) makes
      // the clone wait most of checkpoint_timeout × checkpoint_completion_target (minutes) for nothing.
      `${agent} standby clone --fast-checkpoint -f ${DEFAULT_CONFIG_FILE}`,
      'systemctl enable --now postgresql',
      `${agent} standby register -f ${DEFAULT_CONFIG_FILE}`,
    );
  } else {
    lines.push(
      '# witness: a vantage point and a vote (no PostgreSQL server needed); register once the primary is',
      'until /usr/bin/pg_isready -h "$PRIMARY_IP" -p 5432; do sleep 5; done',
      `until ${agent} witness register -f ${DEFAULT_CONFIG_FILE}; do sleep 10; done`,
    );
  }
  lines.push(
    'unset PW',
    '',
    '# the agent under systemd, with the unit the package carries (Restart=always)',
    `install -m 644 /opt/pgvigil/${SYSTEMD_UNIT} /etc/systemd/system/pgvigil-agent.service`,
    'systemctl daemon-reload',
    'systemctl enable --now pgvigil-agent',
  );
  return lines.join('\n') + '\n';
}
