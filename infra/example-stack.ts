/**
 * A complete example: a VPC across three Availability Zones, three PostgreSQL 15 nodes (one per AZ)
 * and a witness, the agents under systemd, and the pgvigil control plane watching them.
 *
 * Network design: public subnets only (no NAT gateway to pay for); the instances need outbound
 * access for packages, SSM and DynamoDB, but accept nothing from outside except PostgreSQL from the
 * cluster's own nodes and from {@link PgvigilExampleStack.clientSecurityGroup}. Clients inside the
 * VPC connect to the Elastic IP's public DNS name, which resolves to the private address of the
 * instance it is associated with (SPEC §12), so that name is the VIP.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Aws,
  CfnOutput,
  Stack,
  Tags,
  Validations,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_s3_assets as s3assets,
  aws_secretsmanager as secretsmanager,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CLUSTER_TAG, PgvigilControlPlane } from './construct.js';
import { DEFAULT_CONFIG_FILE } from './ssm-documents.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The agent helper's unit file; the hosts install it from the shipped source when present. */
export const AGENT_UNIT_PATH = 'deploy/systemd/pgvigil-agent.service';
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
   * Use an existing Elastic IP as the VIP.
   * @default a new one
   */
  readonly vipAllocationId?: string;
  /** @default t4g.small (Graviton; the AMI is chosen to match) */
  readonly instanceType?: ec2.InstanceType;
  /** @default t4g.nano */
  readonly witnessInstanceType?: ec2.InstanceType;
  /** Node.js installed on the hosts (from nodejs.org). @default '22.12.0' */
  readonly nodeVersion?: string;
  /** @default 'pgvigil-example' (distinct from the standalone control plane's documents) */
  readonly documentPrefix?: string;
}

type Role = 'primary' | 'standby' | 'witness';

export class PgvigilExampleStack extends Stack {
  readonly controlPlane: PgvigilControlPlane;
  readonly vpc: ec2.Vpc;
  readonly nodeSecurityGroup: ec2.SecurityGroup;
  /** Give this group to your application's instances: it may reach PostgreSQL on the nodes. */
  readonly clientSecurityGroup: ec2.SecurityGroup;
  readonly instances: ec2.Instance[] = [];
  private readonly azs: string[];

  constructor(scope: Construct, id: string, props: PgvigilExampleStackProps = {}) {
    super(scope, id, { description: 'pgvigil example: three PostgreSQL nodes and a witness across three AZs', ...props });
    const region = props.env?.region ?? 'us-east-1';
    this.azs = [...(props.availabilityZones ?? ['a', 'b', 'c'].map((s) => `${region}${s}`))];
    if (this.azs.length !== 3) throw new Error(`PgvigilExampleStack: exactly three availabilityZones are needed, got ${this.azs.length}`);
    const clusterId = props.clusterId ?? 'example';
    Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: 'One node per Availability Zone is the point of this stack; the zones come from props/context, not from a guess.',
    });

    this.controlPlane = new PgvigilControlPlane(this, 'ControlPlane', {
      clusters: [{ clusterId, vipAllocationId: props.vipAllocationId }],
      documentPrefix: props.documentPrefix ?? 'pgvigil-example',
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: 3,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: true }],
      // DynamoDB traffic stays on the AWS network (a free gateway endpoint).
      gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
    });
    this.vpc.addFlowLog('FlowLog');

    this.nodeSecurityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc: this.vpc,
      description: 'pgvigil nodes: PostgreSQL between the nodes and from clients only',
      allowAllOutbound: true,
    });
    this.clientSecurityGroup = new ec2.SecurityGroup(this, 'ClientSecurityGroup', {
      vpc: this.vpc,
      description: 'pgvigil clients: may connect to PostgreSQL on the nodes',
      allowAllOutbound: true,
    });
    this.nodeSecurityGroup.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(5432), 'PostgreSQL between nodes (replication, checks)');
    this.nodeSecurityGroup.addIngressRule(this.clientSecurityGroup, ec2.Port.tcp(5432), 'PostgreSQL from clients');

    const secret = new secretsmanager.Secret(this, 'ReplicationPassword', {
      description: `pgvigil example ${clusterId}: password of the repmgr role (replication and checks)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason: "Rotating the repmgr password means ALTER ROLE on the primary and a new .pgpass on every node at once; the example leaves that to the operator.",
    });

    // The agent ships as this repository's source (bin/pgvigil-agent.js runs it through tsx).
    const source = new s3assets.Asset(this, 'AgentSource', {
      path: REPO_ROOT,
      exclude: ['node_modules', '.git', 'cdk.out', 'dist', 'coverage', '.tmp', '.sandbox', 'test', 'bench', '*.log'],
    });

    const role = new iam.Role(this, 'NodeRole', {
      description: `pgvigil example ${clusterId}: PostgreSQL nodes and witness`,
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.controlPlane.grantAgent(role, clusterId);
    secret.grantRead(role);
    source.grantRead(role);
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'The SSM agent on the hosts needs AmazonSSMManagedInstanceCore to receive the Run Command documents pgvigil sends.',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetBucket*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the agent).',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the agent).',
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Action::s3:List*]',
        reason: 'Granted by Asset.grantRead on the CDK asset bucket only (to download the agent).',
      },
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]`,
        reason: 'Objects of the CDK asset bucket: the agent source is one of them, with a content-hash key.',
      },
    );

    const common = {
      clusterId,
      tableName: this.controlPlane.table.tableName,
      vipAllocationId: this.controlPlane.vipAllocationId(clusterId),
      secretArn: secret.secretArn,
      sourceUrl: source.s3ObjectUrl,
      nodeVersion: props.nodeVersion ?? '22.12.0',
      vpcCidr: this.vpc.vpcCidrBlock,
    };
    const machineImage = ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 });
    const host = (nodeId: number, hostRole: Role, az: string, instanceType: ec2.InstanceType, primaryIp?: string): ec2.Instance => {
      const name = hostRole === 'witness' ? `witness${nodeId}` : `pg${nodeId}`;
      const instance = new ec2.Instance(this, hostRole === 'witness' ? 'Witness' : `Node${nodeId}`, {
        vpc: this.vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC, availabilityZones: [az] },
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
    host(2, 'standby', this.azs[1]!, instanceType, primary.instancePrivateIp);
    host(3, 'standby', this.azs[2]!, instanceType, primary.instancePrivateIp);
    host(
      4,
      'witness',
      this.azs[2]!,
      props.witnessInstanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.NANO),
      primary.instancePrivateIp,
    );

    new CfnOutput(this, 'ClusterId', { value: clusterId });
    new CfnOutput(this, 'TableName', { value: this.controlPlane.table.tableName, description: 'state_table' });
    new CfnOutput(this, 'VipAllocationId', { value: this.controlPlane.vipAllocationId(clusterId) });
    new CfnOutput(this, 'DocumentPrefix', { value: this.controlPlane.documentPrefix });
    new CfnOutput(this, 'SwitchoverDocumentName', { value: this.controlPlane.switchoverDocumentName });
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
  vipAllocationId: string;
  secretArn: string;
  sourceUrl: string;
  nodeVersion: string;
  vpcCidr: string;
  primaryIp?: string;
}

/** The minimal unit used when the shipped source has no {@link AGENT_UNIT_PATH}. */
export const FALLBACK_AGENT_UNIT = `[Unit]
Description=pgvigil agent (PostgreSQL HA)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=postgres
ExecStart=/usr/local/bin/pgvigil-agent run -f ${DEFAULT_CONFIG_FILE}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`;

/** The unit file the hosts get: the agent helper's file when this checkout has it. */
export function agentUnitFile(): string {
  const path = join(REPO_ROOT, AGENT_UNIT_PATH);
  return existsSync(path) ? readFileSync(path, 'utf8') : FALLBACK_AGENT_UNIT;
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
    `REGION='${Aws.REGION}' TABLE='${o.tableName}' VIP='${o.vipAllocationId}' SECRET_ARN='${o.secretArn}'`,
    `NODE_VERSION='${o.nodeVersion}' PRIMARY_IP='${o.primaryIp ?? ''}' VPC_CIDR='${o.vpcCidr}'`,
    'TOKEN=$(curl -sfX PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 600")',
    'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
    'MY_IP=$(md local-ipv4); AZ=$(md placement/availability-zone); INSTANCE_ID=$(md instance-id)',
    '',
    '# PostgreSQL 15 (Amazon Linux 2023 packages: binaries in /usr/bin)',
    'dnf install -y postgresql15 postgresql15-server postgresql15-contrib tar xz unzip',
    '',
    '# Node.js, pinned, from nodejs.org',
    'ARCH=$(uname -m | sed "s/aarch64/arm64/; s/x86_64/x64/")',
    'curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-${ARCH}.tar.xz" | tar -xJ -C /opt',
    'ln -sfn "/opt/node-v${NODE_VERSION}-linux-${ARCH}" /opt/node',
    'for b in node npm npx; do ln -sf "/opt/node/bin/$b" "/usr/local/bin/$b"; done',
    '[ -e /usr/bin/node ] || ln -s /opt/node/bin/node /usr/bin/node  # the agent unit runs /usr/bin/node',
    '',
    '# the agent: this repository from the CDK asset, production dependencies only',
    `aws s3 cp '${o.sourceUrl}' /tmp/pgvigil.zip --region "$REGION"`,
    'mkdir -p /opt/pgvigil && unzip -qo /tmp/pgvigil.zip -d /opt/pgvigil && rm -f /tmp/pgvigil.zip',
    '(cd /opt/pgvigil && PATH=/opt/node/bin:$PATH npm ci --omit=dev --no-audit --no-fund)',
    'ln -sf /opt/pgvigil/bin/pgvigil-agent.js /usr/local/bin/pgvigil-agent',
    'ln -sf /opt/pgvigil/bin/pgvigil.js /usr/local/bin/pgvigil',
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
    "vip_allocation_id='$VIP'",
    // A fenced former primary rewinds and rejoins as a standby by itself (docs/controller.md).
    'auto_rejoin=true',
    'EOF',
    'chown -R postgres:postgres /etc/pgvigil',
    '',
  ];
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
      // systemd starts PostgreSQL at boot; the agent (After=postgresql.service) then applies the
      // startup rule and fences a former primary that the cluster has replaced.
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
      `until ${agent} standby clone --dry-run -f ${DEFAULT_CONFIG_FILE}; do sleep 10; done`,
      `${agent} standby clone -f ${DEFAULT_CONFIG_FILE}`,
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
    '# the agent under systemd (Restart=always)',
    `if [ -f /opt/pgvigil/${AGENT_UNIT_PATH} ]; then`,
    `  cp /opt/pgvigil/${AGENT_UNIT_PATH} /etc/systemd/system/pgvigil-agent.service`,
    'else',
    "  cat > /etc/systemd/system/pgvigil-agent.service <<'EOF'",
    FALLBACK_AGENT_UNIT.trimEnd(),
    'EOF',
    'fi',
    'systemctl daemon-reload',
    'systemctl enable --now pgvigil-agent',
  );
  return lines.join('\n') + '\n';
}
