/**
 * Builds the agent's ClusterStateStore (DynamoDB). Every request is bounded: a connection timeout,
 * and a request timeout that really ends the request (the SDK only logs a warning unless
 * `throwOnRequestTimeout` is set, and a request whose packets are dropped then hangs until TCP
 * gives up, minutes later). `AWS_ENDPOINT_URL` points the same code at moto or LocalStack.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import type { ClusterStateStore } from '../core/ports.js';
import type { AgentConfig } from './config.js';
import { leaseTimings } from './daemon/policy.js';

export interface RequestLimits {
  /** Attempts per request, the first included (the SDK retries the others with backoff). */
  maxAttempts: number;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

/** Heartbeats, events and host actions: a slow answer is worth waiting a few seconds for. */
const DEFAULT_LIMITS: RequestLimits = { maxAttempts: 2, connectionTimeoutMs: 2000, requestTimeoutMs: 4000 };

export function createDynamoClient(config: Pick<AgentConfig, 'aws_region'>, env: NodeJS.ProcessEnv, limits: RequestLimits = DEFAULT_LIMITS): DynamoDBClient {
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  return new DynamoDBClient({
    region: config.aws_region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: limits.maxAttempts,
    requestHandler: { connectionTimeout: limits.connectionTimeoutMs, requestTimeout: limits.requestTimeoutMs, throwOnRequestTimeout: true },
  });
}

export function createStore(config: Pick<AgentConfig, 'aws_region' | 'state_table'>, env: NodeJS.ProcessEnv): ClusterStateStore {
  return new DynamoStateStore(createDynamoClient(config, env), config.state_table);
}

/**
 * The lease path's store: a client of its own (its own connections, never queued behind a
 * heartbeat's), one attempt per request (the renewer starts the next attempts itself, so the
 * SDK's backoff cannot stretch one), and each request ended at the attempt limit.
 */
export function createLeaseStore(config: Pick<AgentConfig, 'aws_region' | 'state_table' | 'lease_secs'>, env: NodeJS.ProcessEnv): DynamoStateStore {
  const limitMs = Math.ceil(leaseTimings(config).attemptLimitMs);
  return new DynamoStateStore(createDynamoClient(config, env, { maxAttempts: 1, connectionTimeoutMs: limitMs, requestTimeoutMs: limitMs }), config.state_table);
}
