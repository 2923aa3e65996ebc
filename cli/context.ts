/**
 * Where the operator commands find the cluster: the state table (DynamoDB), the cluster id, the AWS
 * settings, and the clock. Everything comes from the command's own context (`ctx.env`, options,
 * `-f` config file), never from `process.env` directly, so tests run commands in-process against
 * a private moto server.
 *
 * The config file is `-f FILE`, PGVIGIL_CONFIG, or repmgr's default locations (see {@link configFileFor}).
 * Precedence: `--cluster` > `PGVIGIL_CLUSTER_ID` > `cluster_id` in the config file > "default";
 * `PGVIGIL_TABLE` > `state_table` > "pgvigil"; `AWS_REGION` > `AWS_DEFAULT_REGION` > `aws_region`
 * > the SDK's own resolution (profile); `AWS_ENDPOINT_URL_DYNAMODB` > `AWS_ENDPOINT_URL`.
 *
 * When nothing says where AWS is (no config file, no endpoint/region/profile, no ~/.aws/config),
 * a running local sandbox is used, with a NOTICE (cli/local-sandbox.ts); with none, a clear error.
 */
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_LOCATIONS } from '../adapters/config-locations.js';
import { PgvigilError } from '../core/errors.js';
import type { ClusterSnapshot, NodeRecord } from '../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../core/ports.js';
import { opt, type CommandContext, type OptionSpec } from '../shell/framework.js';
import { awsLocationGiven, useRunningSandbox } from './local-sandbox.js';

/** The `--cluster` option every cluster command accepts. */
export const clusterOption: Record<string, OptionSpec> = {
  cluster: { type: 'string', description: 'cluster id (default: PGVIGIL_CLUSTER_ID, else cluster_id from -f, else "default")' },
};

/** `--json` for every listing. */
export const jsonOption: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print the result as JSON' },
};

export const DEFAULT_TABLE = 'pgvigil';
export const DEFAULT_CLUSTER = 'default';

/** The settings a command needs from a repmgr.conf-format file given with -f. */
export interface CliFileSettings {
  /** The node the file belongs to (a node's own repmgr.conf). */
  node_id?: number;
  cluster_id?: string;
  state_table?: string;
  aws_region?: string;
}

export interface CliTarget {
  clusterId: string;
  /** `node_id` of the configuration file read, if any: "this node" for node commands (read it with {@link thisNodeId}). */
  fileNodeId: number | undefined;
  /** `cluster_id` of that file (PGVIGIL_CLUSTER_ID applied): the cluster its `node_id` belongs to. */
  fileClusterId: string | undefined;
  tableName: string;
  region: string | undefined;
  endpoint: string | undefined;
  /** AWS SDK settings (region, endpoint, credentials) taken from the command's environment. */
  awsConfig: { region?: string; endpoint?: string; credentials?: DynamoDBClientConfig['credentials'] };
  store: ClusterStateStore;
  now(): number;
  /**
   * The environment the command works with: `ctx.env`, or — when it says nothing about where AWS
   * is and a sandbox is running — `ctx.env` pointed at that sandbox.
   */
  env: NodeJS.ProcessEnv;
}

/** Reads `cluster_id`, `state_table`, `aws_region` from `-f FILE` (environment overrides applied by the loader). */
export async function readConfigFile(path: string, env: NodeJS.ProcessEnv): Promise<CliFileSettings> {
  // Loaded here, not at start-up: the parser and its schemas are not needed by --help (build/index.ts).
  const { loadConfigFile } = await import('../adapters/config-file.js');
  const { config } = loadConfigFile(path, env);
  return { node_id: config.node_id, cluster_id: config.cluster_id, state_table: config.state_table, aws_region: config.aws_region };
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * The configuration file a command reads: `-f FILE`, else PGVIGIL_CONFIG, else — as repmgr does —
 * the first of ./repmgr.conf, /etc/pgvigil/repmgr.conf, /etc/repmgr.conf that exists; undefined
 * when there is none (the environment is then enough).
 */
export function configFileFor(ctx: CommandContext, exists: (path: string) => boolean = existsSync): string | undefined {
  const given = nonEmpty(opt.string(ctx, 'config-file')) ?? nonEmpty(ctx.env.PGVIGIL_CONFIG);
  if (given !== undefined) return given;
  return DEFAULT_CONFIG_LOCATIONS.map((l) => resolve(l)).find((p) => exists(p));
}

/** Resolves the target cluster and builds the state store for a command. */
export async function openTarget(ctx: CommandContext): Promise<CliTarget> {
  let env = ctx.env;
  const file = configFileFor(ctx);
  if (awsLocationGiven(env, file) === undefined) {
    const sandbox = useRunningSandbox(env);
    ctx.out.notice(sandbox.notice);
    env = sandbox.env;
  }
  const fromFile: CliFileSettings = file !== undefined ? await readConfigFile(file, env) : {};
  const clusterId =
    nonEmpty(opt.string(ctx, 'cluster')) ?? nonEmpty(env.PGVIGIL_CLUSTER_ID) ?? nonEmpty(fromFile.cluster_id) ?? DEFAULT_CLUSTER;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(clusterId)) {
    throw new PgvigilError('BAD_ARGUMENT', `invalid cluster id "${clusterId}"`, {
      detail: 'a cluster id is 1-63 letters, digits, "_", "." or "-", starting with a letter or digit',
    });
  }
  const tableName = nonEmpty(env.PGVIGIL_TABLE) ?? nonEmpty(fromFile.state_table) ?? DEFAULT_TABLE;
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? nonEmpty(fromFile.aws_region);
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_DYNAMODB) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(nonEmpty(env.AWS_SESSION_TOKEN) ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  const awsConfig = {
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
  // The SDK is loaded by the commands that reach AWS, not at start-up (build/index.ts).
  const [{ DynamoDBClient }, { DynamoStateStore }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../adapters/dynamo-state-store.js')]);
  const client = new DynamoDBClient({ ...awsConfig, maxAttempts: 3 });
  return {
    clusterId,
    fileNodeId: fromFile.node_id,
    fileClusterId: fromFile.cluster_id,
    tableName,
    region,
    endpoint,
    awsConfig,
    store: new DynamoStateStore(client, tableName),
    now: ctx.now ?? (() => Date.now()),
    env,
  };
}

/** Runs a state-store call and turns AWS SDK failures into errors an operator can act on. */
export async function aws<T>(target: CliTarget, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw describeAwsError(error, target);
  }
}

/** Maps an AWS SDK error to a {@link PgvigilError} naming the table, region and endpoint. */
export function describeAwsError(error: unknown, target: Pick<CliTarget, 'tableName' | 'region' | 'endpoint'>): PgvigilError {
  if (error instanceof PgvigilError) return error;
  const e = error as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  const name = e?.name ?? '';
  const message = e?.message ?? String(error);
  const where = `table "${target.tableName}"${target.region ? ` in ${target.region}` : ''}${target.endpoint ? ` at ${target.endpoint}` : ''}`;
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new PgvigilError('BAD_CONFIG', 'no AWS credentials found', {
      cause: error,
      detail: message,
      hint: 'set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance/task role is available',
    });
  }
  if (/region is missing/i.test(message)) {
    return new PgvigilError('BAD_CONFIG', 'no AWS region configured', {
      cause: error,
      hint: 'set AWS_REGION, or aws_region in the configuration file given with -f',
    });
  }
  if (name === 'ResourceNotFoundException') {
    return new PgvigilError('BAD_CONFIG', `the pgvigil state ${where} does not exist`, {
      cause: error,
      hint: 'set PGVIGIL_TABLE, or state_table in the configuration file, to the table the pgvigil stack created',
    });
  }
  if (['UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'AccessDeniedException'].includes(name)) {
    return new PgvigilError('BAD_CONFIG', `AWS refused the credentials for ${where}: ${message}`, {
      cause: error,
      hint: 'check AWS_PROFILE / AWS_ACCESS_KEY_ID and the IAM permissions of the operator role',
    });
  }
  const code = e?.code ?? e?.cause?.code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code) || name === 'TimeoutError') {
    return new PgvigilError('DB_CONN', `unable to reach the pgvigil state ${where}`, {
      cause: error,
      detail: message,
      hint: 'check AWS_ENDPOINT_URL / AWS_REGION and the network path to DynamoDB',
    });
  }
  return new PgvigilError('AWS', `DynamoDB request on ${where} failed: ${name ? `${name}: ` : ''}${message}`, { cause: error });
}

/** One strongly consistent read of the target cluster; NOT_FOUND (exit 1) with a hint when absent. */
export async function loadCluster(target: CliTarget): Promise<LoadedCluster> {
  const loaded = await aws(target, () => target.store.load(target.clusterId));
  if (loaded) return loaded;
  const known = await aws(target, () => target.store.listClusters()).catch(() => [] as string[]);
  throw new PgvigilError('NOT_FOUND', `cluster "${target.clusterId}" not found in table "${target.tableName}"`, {
    detail: known.length > 0 ? `clusters in this table: ${known.join(', ')}` : 'the table holds no cluster yet',
    hint:
      known.length > 0
        ? 'choose one with --cluster or PGVIGIL_CLUSTER_ID'
        : 'register a primary first ("pgvigil primary register" on the primary host)',
  });
}

/** Finds a registered node by id or name; NOT_FOUND (exit 1) naming the registered nodes. */
export function findNode(snapshot: ClusterSnapshot, by: { nodeId?: number | undefined; nodeName?: string | undefined }): NodeRecord {
  const node = snapshot.nodes.find((n) =>
    by.nodeId !== undefined ? n.node_id === by.nodeId : by.nodeName !== undefined ? n.node_name === by.nodeName : false,
  );
  if (node) return node;
  const what = by.nodeId !== undefined ? `ID ${by.nodeId}` : `name "${by.nodeName ?? ''}"`;
  throw new PgvigilError('NOT_FOUND', `no node with ${what} is registered in cluster "${snapshot.cluster.cluster_id}"`, {
    detail: `registered nodes: ${snapshot.nodes.map((n) => `${n.node_name} (ID: ${n.node_id})`).join(', ') || 'none'}`,
  });
}

/** Reads an integer option that must be a node id. */
export function nodeIdOption(ctx: CommandContext, name = 'node-id'): number | undefined {
  const v = opt.integer(ctx, name);
  if (v !== undefined && (v < 1 || v > 2_147_483_647)) {
    throw new PgvigilError('BAD_ARGUMENT', `option --${name} expects a node id (a positive integer), got ${v}`);
  }
  return v;
}

/**
 * "This node": the `node_id` of the configuration file, undefined without one. A node id means
 * something only in its own cluster, so when `--cluster` names another one this is an error rather
 * than a node of the same id in the other cluster.
 */
export function thisNodeId(target: CliTarget): number | undefined {
  if (target.fileNodeId === undefined) return undefined;
  const fileCluster = target.fileClusterId ?? DEFAULT_CLUSTER;
  if (fileCluster !== target.clusterId) {
    throw new PgvigilError('BAD_ARGUMENT', `the configuration file's node (ID ${target.fileNodeId}) belongs to cluster "${fileCluster}", not to cluster "${target.clusterId}" given with --cluster`, {
      hint: 'name the node of that cluster (--node-id, --candidate), or drop --cluster',
    });
  }
  return target.fileNodeId;
}
