/**
 * Helpers for agent integration tests: repmgr.conf files for local test nodes, and running
 * `pgvigil-agent` commands in-process against a moto endpoint with their output captured.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';
import { agentProgram } from '../../agent/main.js';
import { ARTIFACTS, builtArtifact } from '../../build/artifacts.js';
import { parseAgentConfig, type AgentConfig } from '../../agent/config.js';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { createStateTable } from '../../adapters/dynamo-table.js';
import type { PostgresServer } from '../../sandbox/postgres.js';
import type { Moto } from './moto.js';

export interface TestNode {
  id: number;
  name: string;
  server: PostgresServer;
  configFile: string;
  config: AgentConfig;
}

export function motoEnv(moto: Moto): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  };
}

export async function createTable(moto: Moto, table: string): Promise<DynamoStateStore> {
  const client = new DynamoDBClient(moto.clientConfig);
  await createStateTable(client, table);
  return new DynamoStateStore(client, table);
}

/** Writes repmgr.conf for a test node next to its data directory. */
export async function writeNodeConfig(
  dir: string,
  node: { id: number; name: string; server: PostgresServer; location?: string },
  table: string,
  extra: Record<string, string | number | boolean> = {},
): Promise<{ configFile: string; config: AgentConfig }> {
  const settings: Record<string, string | number | boolean> = {
    node_id: node.id,
    node_name: node.name,
    conninfo: `host=127.0.0.1 port=${node.server.port} user=postgres dbname=postgres connect_timeout=5`,
    data_directory: node.server.dataDir,
    location: node.location ?? 'az-a',
    cluster_id: 'agent-test',
    state_table: table,
    pg_bindir: node.server.binDir,
    monitor_interval_secs: 1,
    heartbeat_interval_secs: 2,
    lease_secs: 20,
    promote_check_timeout: 30,
    primary_follow_timeout: 30,
    node_rejoin_timeout: 60,
    shutdown_check_timeout: 30,
    wal_receive_check_timeout: 20,
    agent_state_dir: dir,
    ...extra,
  };
  const text = Object.entries(settings)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? `'${v}'` : String(v)}`)
    .join('\n');
  const configFile = join(dir, `repmgr-${node.id}.conf`);
  await writeFile(configFile, `# test node ${node.name}\n${text}\n`);
  return { configFile, config: parseAgentConfig(text, configFile) };
}

export interface RunResult {
  code: number;
  stdout: string[];
  stderr: string[];
  /** stdout and stderr together, for matching. */
  text: string;
}

/** Runs `pgvigil-agent ARGS` in-process. */
export async function agent(env: NodeJS.ProcessEnv, args: string[]): Promise<RunResult> {
  const out = memoryOutput();
  const code = await runProgram(agentProgram, args, out, env);
  return { code, stdout: out.stdout, stderr: out.stderr, text: [...out.stdout, ...out.stderr].join('\n') };
}

/** Runs `node [NODE_FLAGS] dist/pgvigil-agent.mjs ARGS` (the deployed bundle) as its own process. */
export async function runBundle(env: NodeJS.ProcessEnv, args: string[], nodeFlags: string[] = []): Promise<RunResult> {
  const child = spawn(process.execPath, [...nodeFlags, builtArtifact(ARTIFACTS.agent), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => stdout.push(b));
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  const lines = (chunks: Buffer[]): string[] => Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== '');
  const out = { stdout: lines(stdout), stderr: lines(stderr) };
  return { code, ...out, text: [...out.stdout, ...out.stderr].join('\n') };
}

/** Waits until `fn` holds (a failing check counts as not yet), checking every `everyMs`. */
export async function waitFor(fn: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Can a client write to the server right now (an INSERT into `table`, a one-column int table)? */
export async function canWrite(server: PostgresServer, table: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`INSERT INTO ${table} VALUES (1)`);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
