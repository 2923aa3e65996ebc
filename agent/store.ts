/**
 * Builds the agent's ClusterStateStore (DynamoDB). Every request is bounded (connection and request
 * timeouts, few retries), so an unreachable DynamoDB delays an action or a heartbeat by seconds,
 * never indefinitely. `AWS_ENDPOINT_URL` points the same code at moto or LocalStack.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import type { ClusterStateStore } from '../core/ports.js';
import type { AgentConfig } from './config.js';

export function createDynamoClient(config: Pick<AgentConfig, 'aws_region'>, env: NodeJS.ProcessEnv): DynamoDBClient {
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  return new DynamoDBClient({
    region: config.aws_region || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 4000 },
  });
}

export function createStore(config: Pick<AgentConfig, 'aws_region' | 'state_table'>, env: NodeJS.ProcessEnv): ClusterStateStore {
  return new DynamoStateStore(createDynamoClient(config, env), config.state_table);
}
