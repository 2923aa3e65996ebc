/**
 * Deploys the CDK-synthesized control plane into an AWS emulator (moto's server mode; LocalStack
 * works the same way), the way the sandbox and the infra tests do (docs/sandbox.md, docs/deploy.md).
 *
 * What differs from `cdk deploy`, and why:
 * - the stack is synthesized without the bootstrap-version rule and parameter (an emulator has no
 *   bootstrap stack, and moto cannot resolve the SSM parameter);
 * - file assets go to a bucket named `pgvigil-emulator-assets-<region>` (known without asking the
 *   emulator for its account id), which this function creates; the Lambda code is the real esbuild
 *   bundle, zipped as the CDK CLI would;
 * - the emulator accepts unsigned requests, so assets are uploaded with plain HTTP PUTs (path-style)
 *   instead of pulling in an S3 client that nothing else in pgvigil needs;
 * - moto skips resource types it does not model (alarms) with a warning, so they and what refers to
 *   them (the dashboard) are left out of the stack; the alarms are then created with the service API
 *   (sandbox/emulator-alarms.ts), where the sandbox evaluates them;
 * - moto's CloudFormation stores an SSM document's `Content` object unserialised and then fails on
 *   DescribeDocument, so documents get their content as a JSON string (CloudFormation accepts both);
 * - moto's CloudFormation ignores the table's TTL and point-in-time recovery and the Elastic IP's
 *   tags; {@link deployToEmulator} applies them with the service APIs afterwards, so the emulated
 *   deployment behaves like the real one (the template tests check the real template has them);
 * - moto's CloudFormation does not model Secrets Manager secrets (the agent API's), though its
 *   Secrets Manager does: they are created through the API first (with a generated value, as
 *   `GenerateSecretString` would) and the template's references to them replaced by their ARNs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  type Stack as CfnStack,
} from '@aws-sdk/client-cloudformation';
import { DynamoDBClient, UpdateContinuousBackupsCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { App, DefaultStackSynthesizer, type Stack } from 'aws-cdk-lib';
import { TABLE_DEFINITION } from '../core/table.js';
import { CLUSTER_TAG } from '../infra/construct.js';
import type { PgvigilControlPlaneProps } from '../infra/construct.js';
import { CONTROL_PLANE_OUTPUTS, PgvigilControlPlaneStack } from '../infra/control-plane-stack.js';
import { SSM_ACTIONS, documentName, type SsmAction } from '../infra/ssm-documents.js';
import { zipDirectory } from '../infra/zip.js';
import { createEmulatorAlarms } from './emulator-alarms.js';

export interface EmulatorClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface DeployToEmulatorOptions {
  /** @default 'pgvigil' */
  stackName?: string;
  /** Props of the control plane. @default one cluster, `main`, with a new Elastic IP */
  controlPlane?: PgvigilControlPlaneProps;
  /** How long to wait for CREATE_COMPLETE. @default 120 s */
  timeoutMs?: number;
}

export interface EmulatorDeployment {
  stackName: string;
  stackId: string;
  tableName: string;
  tableStreamArn: string;
  topicArn: string;
  documentPrefix: string;
  commandDocumentNames: Record<SsmAction, string>;
  switchoverDocumentName: string;
  evaluatorFunctionName: string;
  switchoverFunctionName: string;
  deadLetterQueueUrl: string;
  /** Allocation id of each cluster's Elastic IP, by cluster id. */
  vipAllocationIds: Record<string, string>;
  /** ARN of the agent policy of each cluster, by cluster id. */
  agentPolicyArns: Record<string, string>;
  /** ARN of the agent API secret of each cluster (`rest_api_secret_arn`), by cluster id. */
  agentApiSecretArns: Record<string, string>;
  /** The template's CloudWatch alarms, created with the service API: alarm name by logical id. */
  alarmNames: Record<string, string>;
}

export const EMULATOR_ASSET_BUCKET_PREFIX = 'pgvigil-emulator-assets-';

export interface SynthesizedControlPlane {
  /** The cloud assembly directory (remove it when done). */
  outdir: string;
  template: Record<string, unknown>;
  templateFile: string;
  assets: Array<{ id: string; path: string; packaging: 'zip' | 'file'; bucketName: string; objectKey: string }>;
}

/** Builds the one stack of an emulator deployment with the synthesizer it must use. */
export type EmulatorStackBuilder = (app: App, synthesizer: DefaultStackSynthesizer) => Stack;

/** Synthesizes the control-plane stack for an emulator: no bootstrap rule, a predictable asset bucket. */
export function synthesizeForEmulator(stackName: string, controlPlane: PgvigilControlPlaneProps, region: string): SynthesizedControlPlane {
  return synthesizeStackForEmulator(region, (app, synthesizer) => new PgvigilControlPlaneStack(app, stackName, { controlPlane, synthesizer }));
}

/** Synthesizes any stack the way {@link synthesizeForEmulator} does the control plane. */
export function synthesizeStackForEmulator(region: string, build: EmulatorStackBuilder): SynthesizedControlPlane {
  const outdir = mkdtempSync(join(tmpdir(), 'pgvigil-cdk-'));
  try {
    return synthesizeInto(outdir, region, build);
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

function synthesizeInto(outdir: string, region: string, build: EmulatorStackBuilder): SynthesizedControlPlane {
  const app = new App({ outdir, analyticsReporting: false });
  const stack = build(
    app,
    new DefaultStackSynthesizer({
      generateBootstrapVersionRule: false,
      fileAssetsBucketName: `${EMULATOR_ASSET_BUCKET_PREFIX}\${AWS::Region}`,
    }),
  );
  const assembly = app.synth();
  const artifact = assembly.getStackArtifact(stack.artifactId);
  const manifest = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string; packaging?: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }>;
  };
  const assets = Object.entries(manifest.files).map(([id, file]) => {
    const destination = Object.values(file.destinations)[0];
    if (!destination) throw new Error(`asset ${id} has no destination`);
    return {
      id,
      path: join(outdir, file.source.path),
      packaging: file.source.packaging === 'zip' ? ('zip' as const) : ('file' as const),
      bucketName: destination.bucketName.replace('${AWS::Region}', region),
      objectKey: destination.objectKey,
    };
  });
  return { outdir, template: artifact.template as Record<string, unknown>, templateFile: artifact.templateFullPath, assets };
}

/**
 * Synthesizes the control plane, uploads its assets and creates the stack in the emulator at
 * `client.endpoint`; resolves with the names and ARNs the sandbox needs.
 */
export async function deployToEmulator(client: EmulatorClientConfig, options: DeployToEmulatorOptions = {}): Promise<EmulatorDeployment> {
  const stackName = options.stackName ?? 'pgvigil';
  const controlPlane = options.controlPlane ?? { clusters: [{ clusterId: 'main' }] };
  const { stackId, outputs, alarmNames } = await deployStackToEmulator(
    client,
    stackName,
    (app, synthesizer) => new PgvigilControlPlaneStack(app, stackName, { controlPlane, synthesizer }),
    options.timeoutMs,
  );
  const need = (key: keyof typeof CONTROL_PLANE_OUTPUTS): string => {
    const value = outputs[CONTROL_PLANE_OUTPUTS[key]];
    if (!value) throw new Error(`stack ${stackName} in the emulator has no output ${CONTROL_PLANE_OUTPUTS[key]}`);
    return value;
  };
  const prefix = need('documentPrefix');
  const pairs = (text: string): Record<string, string> =>
    Object.fromEntries(text.split(',').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
  // A cluster without an Elastic IP (elasticIp: false) is listed as `id=`: it has none to report.
  const vipAllocationIds = Object.fromEntries(Object.entries(pairs(need('vipAllocationIds'))).filter(([, id]) => id !== ''));
  await completeEmulatorDeployment(client, need('tableName'), controlPlane, vipAllocationIds);
  return {
    stackName,
    stackId,
    tableName: need('tableName'),
    tableStreamArn: need('tableStreamArn'),
    topicArn: need('topicArn'),
    documentPrefix: prefix,
    commandDocumentNames: Object.fromEntries(SSM_ACTIONS.map((a) => [a, documentName(prefix, a)])) as Record<SsmAction, string>,
    switchoverDocumentName: need('switchoverDocumentName'),
    evaluatorFunctionName: need('evaluatorFunctionName'),
    switchoverFunctionName: need('switchoverFunctionName'),
    deadLetterQueueUrl: need('deadLetterQueueUrl'),
    vipAllocationIds,
    agentPolicyArns: pairs(need('agentPolicyArns')),
    agentApiSecretArns: pairs(need('agentApiSecretArns')),
    alarmNames,
  };
}

/**
 * Synthesizes the stack `build` makes, uploads its assets and creates it in the emulator; resolves
 * with its id and outputs. What the emulator does not model is handled as the file header says.
 */
export async function deployStackToEmulator(
  client: EmulatorClientConfig,
  stackName: string,
  build: EmulatorStackBuilder,
  timeoutMs = 120_000,
): Promise<{ stackId: string; outputs: Record<string, string>; alarmNames: Record<string, string> }> {
  const synth = synthesizeStackForEmulator(client.region, build);
  try {
    const precreated = await precreateSecrets(client, synth.template);
    const template = forEmulator(synth.template, precreated);
    let templateUrl: string | undefined;
    for (const asset of synth.assets) {
      await putToEmulator(client, asset.bucketName);
      let body: Buffer;
      if (asset.path === synth.templateFile) {
        body = Buffer.from(JSON.stringify(template));
        templateUrl = `https://s3.${client.region}.amazonaws.com/${asset.bucketName}/${asset.objectKey}`;
      } else {
        body = asset.packaging === 'zip' && statSync(asset.path).isDirectory() ? zipDirectory(asset.path) : readFileSync(asset.path);
      }
      await putToEmulator(client, `${asset.bucketName}/${asset.objectKey}`, body);
    }
    const cfn = new CloudFormationClient(client);
    try {
      const created = await cfn.send(
        new CreateStackCommand({
          StackName: stackName,
          ...(templateUrl ? { TemplateURL: templateUrl } : { TemplateBody: JSON.stringify(template) }),
          Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
        }),
      );
      const stack = await waitForStack(cfn, stackName, timeoutMs);
      const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
      // moto's CloudFormation skips alarms: created here, evaluated by the sandbox (docs/sandbox.md).
      const alarmNames = await createEmulatorAlarms(client, stackName, synth.template);
      return { stackId: created.StackId ?? stack.StackId ?? stackName, outputs, alarmNames };
    } finally {
      cfn.destroy();
    }
  } finally {
    rmSync(synth.outdir, { recursive: true, force: true });
  }
}

/** Resource types moto's CloudFormation does not model (it would skip them, docs/deploy.md). */
export const EMULATOR_SKIPPED_TYPES: readonly string[] = ['AWS::CloudWatch::Alarm'];

/** Resource types moto's CloudFormation does not model but its service API does: created before the stack. */
export const EMULATOR_PRECREATED_TYPES: readonly string[] = ['AWS::SecretsManager::Secret'];

/**
 * The template as the emulator gets it: without the resource types it does not model, and without
 * what refers to them (the dashboard's alarm-status widget reads the alarms' ARNs, which moto cannot
 * resolve for a resource it skipped); the resources in `precreated` (logical id → physical id)
 * left out too, with every `Ref` to them replaced by that id.
 */
export function forEmulator(template: Record<string, unknown>, precreated: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  template = replaceRefs(template, precreated) as Record<string, unknown>;
  const resources = { ...(template.Resources as Record<string, { Type: string }>) };
  for (const id of Object.keys(precreated)) delete resources[id];
  const removed = new Set(Object.keys(resources).filter((id) => EMULATOR_SKIPPED_TYPES.includes(resources[id]!.Type)));
  for (;;) {
    const before = removed.size;
    for (const [id, resource] of Object.entries(resources)) {
      if (removed.has(id)) continue;
      if ([...removed].some((r) => refersTo(resource, r))) removed.add(id);
    }
    if (removed.size === before) break;
  }
  for (const id of removed) delete resources[id];
  for (const [id, resource] of Object.entries(resources)) {
    const props = (resource as { Properties?: Record<string, unknown> }).Properties;
    if (resource.Type === 'AWS::SSM::Document' && props && typeof props.Content === 'object') {
      resources[id] = { ...resource, Properties: { ...props, Content: jsonStringInTemplate(props.Content) } } as typeof resource;
    }
  }
  const outputs = Object.fromEntries(
    Object.entries((template.Outputs ?? {}) as Record<string, unknown>).filter(([, o]) => ![...removed].some((r) => refersTo(o, r))),
  );
  return { ...template, Resources: resources, Outputs: outputs };
}

/**
 * A JSON value that may hold CloudFormation intrinsics (Ref, Fn::…) as a template string value:
 * plain JSON text, or an Fn::Join that splices the intrinsics in.
 */
export function jsonStringInTemplate(value: unknown): unknown {
  const intrinsics: unknown[] = [];
  const marker = (i: number) => `@@pgvigil-intrinsic-${i}@@`;
  const swap = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(swap);
    if (typeof node !== 'object' || node === null) return node;
    const keys = Object.keys(node);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'))) {
      intrinsics.push(node);
      return marker(intrinsics.length - 1);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, swap(v)]));
  };
  const text = JSON.stringify(swap(value));
  if (intrinsics.length === 0) return text;
  const parts: unknown[] = [];
  let rest = text;
  intrinsics.forEach((intrinsic, i) => {
    const [before, after = ''] = rest.split(marker(i));
    parts.push(before, intrinsic);
    rest = after;
  });
  parts.push(rest);
  return { 'Fn::Join': ['', parts.filter((p) => p !== '')] };
}

/** Applies what moto's CloudFormation ignores: table TTL and point-in-time recovery, Elastic IP tags. */
async function completeEmulatorDeployment(
  client: EmulatorClientConfig,
  tableName: string,
  controlPlane: PgvigilControlPlaneProps,
  vipAllocationIds: Record<string, string>,
): Promise<void> {
  const ddb = new DynamoDBClient(client);
  const ec2 = new EC2Client(client);
  try {
    await ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_DEFINITION.ttlAttribute, Enabled: true },
      }),
    );
    await ddb.send(
      new UpdateContinuousBackupsCommand({
        TableName: tableName,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
    for (const cluster of controlPlane.clusters) {
      if (cluster.vipAllocationId || cluster.elasticIp === false) continue; // imported (its owner tags it), or none
      const allocationId = vipAllocationIds[cluster.clusterId];
      if (!allocationId) throw new Error(`the emulator deployment reports no Elastic IP for cluster ${cluster.clusterId}`);
      await ec2.send(
        new CreateTagsCommand({
          Resources: [allocationId],
          Tags: [
            { Key: CLUSTER_TAG, Value: cluster.clusterId },
            { Key: 'Name', Value: `pgvigil-${cluster.clusterId}-vip` },
          ],
        }),
      );
    }
  } finally {
    ddb.destroy();
    ec2.destroy();
  }
}

function replaceRefs(node: unknown, ids: Readonly<Record<string, string>>): unknown {
  if (Array.isArray(node)) return node.map((n) => replaceRefs(n, ids));
  if (typeof node !== 'object' || node === null) return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj.Ref === 'string' && Object.keys(obj).length === 1 && Object.hasOwn(ids, obj.Ref)) return ids[obj.Ref];
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, replaceRefs(v, ids)]));
}

/**
 * Creates the template's Secrets Manager secrets through the emulator's API (reusing one of the same
 * name from an earlier deployment), each with a generated value; returns logical id → ARN.
 */
async function precreateSecrets(client: EmulatorClientConfig, template: Record<string, unknown>): Promise<Record<string, string>> {
  const resources = Object.entries((template.Resources ?? {}) as Record<string, { Type: string; Properties?: Record<string, unknown> }>);
  const secrets = resources.filter(([, r]) => EMULATOR_PRECREATED_TYPES.includes(r.Type));
  if (secrets.length === 0) return {};
  const sm = new SecretsManagerClient(client);
  try {
    const arns: Record<string, string> = {};
    for (const [id, resource] of secrets) {
      const name = typeof resource.Properties?.Name === 'string' ? resource.Properties.Name : id;
      const existing = await sm.send(new DescribeSecretCommand({ SecretId: name })).catch(() => undefined);
      const created = existing?.ARN
        ? existing
        : await sm.send(
            new CreateSecretCommand({
              Name: name,
              ...(typeof resource.Properties?.Description === 'string' ? { Description: resource.Properties.Description } : {}),
              SecretString: randomBytes(36).toString('base64url'),
            }),
          );
      if (!created.ARN) throw new Error(`the emulator created secret ${name} without an ARN`);
      arns[id] = created.ARN;
    }
    return arns;
  } finally {
    sm.destroy();
  }
}

function refersTo(node: unknown, logicalId: string): boolean {
  if (Array.isArray(node)) return node.some((n) => refersTo(n, logicalId));
  if (typeof node !== 'object' || node === null) return false;
  const obj = node as Record<string, unknown>;
  if (obj.Ref === logicalId) return true;
  const getAtt = obj['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[0] === logicalId) return true;
  if (Array.isArray(obj.DependsOn) ? obj.DependsOn.includes(logicalId) : obj.DependsOn === logicalId) return true;
  return Object.values(obj).some((v) => refersTo(v, logicalId));
}

async function waitForStack(cfn: CloudFormationClient, stackName: string, timeoutMs: number): Promise<CfnStack> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = Stacks?.[0];
    const status = stack?.StackStatus ?? 'UNKNOWN';
    if (stack && status === 'CREATE_COMPLETE') return stack;
    if (!status.endsWith('_IN_PROGRESS')) {
      throw new Error(`stack ${stackName} in the emulator ended in ${status}: ${stack?.StackStatusReason ?? 'no reason given'}`);
    }
    if (Date.now() > deadline) throw new Error(`stack ${stackName} in the emulator still ${status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** PUT to the emulator's S3, path-style (bucket when `path` has no slash, else an object). */
async function putToEmulator(client: EmulatorClientConfig, path: string, body?: Buffer): Promise<void> {
  const res = await fetch(`${client.endpoint.replace(/\/$/, '')}/${path}`, {
    method: 'PUT',
    body: body ? new Uint8Array(body) : undefined,
    headers: path.includes('/') ? { 'content-type': 'application/octet-stream' } : {},
  });
  // A bucket that already exists (a second deployment) is fine.
  if (!res.ok && !(res.status === 409 && !path.includes('/'))) {
    throw new Error(`emulator S3 PUT /${path} failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  }
}
