/**
 * Builders for cluster state written to moto, and a runner for `pgvigil` commands in-process, for
 * the CLI integration tests.
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { createStateTable } from '../../adapters/dynamo-table.js';
import {
  DEFAULT_CLUSTER_SETTINGS,
  type ClusterRecord,
  type Heartbeat,
  type NodeRecord,
  type ServerState,
} from '../../core/model.js';
import { runProgram } from '../../shell/framework.js';
import { program } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';
import type { Moto } from './moto.js';

/** The fixed "now" of every CLI test: 2025-10-09 08:53:20 UTC. */
export const NOW = 1_760_000_000_000;

export function clusterRecord(clusterId: string, overrides: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    cluster_id: clusterId,
    term: 1,
    primary_node_id: 1,
    paused: false,
    operation: null,
    lease: null,
    lease_observation: null,
    settings: DEFAULT_CLUSTER_SETTINGS,
    version: 0,
    created_at: NOW - 86_400_000,
    updated_at: NOW - 86_400_000,
    ...overrides,
  };
}

export function nodeRecord(clusterId: string, nodeId: number, overrides: Partial<NodeRecord> = {}): NodeRecord {
  return {
    cluster_id: clusterId,
    node_id: nodeId,
    node_name: `node${nodeId}`,
    type: nodeId === 1 ? 'primary' : 'standby',
    upstream_node_id: nodeId === 1 ? null : 1,
    active: true,
    location: 'eu-west-1a',
    priority: 100,
    conninfo: `host=10.0.0.${nodeId} user=repmgr dbname=repmgr connect_timeout=2`,
    repluser: 'repmgr',
    slot_name: null,
    config_file: '/etc/pgvigil/repmgr.conf',
    instance_id: `i-000000000000000${nodeId}`,
    fenced: false,
    instance_stopped_at: null,
    registered_at: NOW - 86_400_000,
    updated_at: NOW - 86_400_000,
    ...overrides,
  };
}

export function primaryServer(overrides: Partial<ServerState> = {}): ServerState {
  return {
    postmaster_running: true,
    accepting_connections: true,
    last_accepting_at: NOW - 2_000,
    down_since: null,
    in_recovery: false,
    system_identifier: '7300000000000000001',
    timeline: 1,
    current_lsn: '0/5000000',
    receive_lsn: null,
    replay_lsn: null,
    wal_receiver_status: null,
    wal_receiver_upstream_node_id: null,
    replication: [],
    synchronous_standby_names: '',
    data_directory_writable: true,
    replication_lag_secs: null,
    fenced: false,
    ...overrides,
  };
}

export function standbyServer(upstream: number, overrides: Partial<ServerState> = {}): ServerState {
  return primaryServer({
    in_recovery: true,
    current_lsn: null,
    receive_lsn: '0/5000000',
    replay_lsn: '0/5000000',
    wal_receiver_status: 'streaming',
    wal_receiver_upstream_node_id: upstream,
    replication_lag_secs: 0,
    ...overrides,
  });
}

export function heartbeat(clusterId: string, nodeId: number, server: ServerState | null, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    cluster_id: clusterId,
    node_id: nodeId,
    seq: 100,
    sent_at: NOW - 2_000,
    agent_version: '0.1.0',
    term: 1,
    server,
    reachability: [],
    ...overrides,
  };
}

/** A check of `target` as a heartbeat reports it. */
export function reach(target: number, ok: boolean, at = NOW - 2_000): Heartbeat['reachability'][number] {
  return { node_id: target, ok, checked_at: at, last_ok_at: ok ? at : at - 60_000, failures: ok ? 0 : 6 };
}

export interface ClusterState {
  cluster: ClusterRecord;
  nodes: NodeRecord[];
  heartbeats: Heartbeat[];
}

export interface CliHarness {
  store: DynamoStateStore;
  client: DynamoDBClient;
  table: string;
  env(clusterId: string): NodeJS.ProcessEnv;
  write(state: ClusterState): Promise<void>;
  run(clusterId: string, argv: string[], options?: { now?: number; clock?: () => number; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
}

export interface CliResult {
  code: number;
  stdout: string[];
  stderr: string[];
}

export async function cliHarness(moto: Moto, table = 'pgvigil-cli'): Promise<CliHarness> {
  const client = new DynamoDBClient(moto.clientConfig);
  await createStateTable(client, table);
  const store = new DynamoStateStore(client, table);
  const env = (clusterId: string): NodeJS.ProcessEnv => ({
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: moto.clientConfig.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    PGVIGIL_TABLE: table,
    PGVIGIL_CLUSTER_ID: clusterId,
  });
  return {
    store,
    client,
    table,
    env,
    async write(state) {
      await store.createCluster(state.cluster);
      for (const n of state.nodes) await store.putNode(n);
      for (const h of state.heartbeats) await store.putHeartbeat(h, false);
    },
    async run(clusterId, argv, options = {}) {
      const out = memoryOutput();
      const now = options.now ?? NOW;
      const code = await runProgram(program, argv, out, options.env ?? env(clusterId), { now: options.clock ?? (() => now) });
      return { code, stdout: out.stdout, stderr: out.stderr };
    },
  };
}

/**
 * Compares output with a committed golden file under test/golden/. Set PGVIGIL_UPDATE_GOLDEN=1 to
 * (re)write the files deliberately; otherwise a missing or different file fails the test.
 */
export function golden(name: string, result: CliResult): { actual: string; expected: string } {
  const path = new URL(`../golden/${name}`, import.meta.url).pathname;
  const actual = [...result.stdout, '--- stderr ---', ...result.stderr, `--- exit code ${result.code} ---`, ''].join('\n');
  if (process.env.PGVIGIL_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
  }
  const expected = existsSync(path) ? readFileSync(path, 'utf8') : `(golden file ${name} is missing; run with PGVIGIL_UPDATE_GOLDEN=1)`;
  return { actual, expected };
}
