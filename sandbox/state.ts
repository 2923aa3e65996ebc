/**
 * The sandbox's state file (sandbox.json in the sandbox directory): what the sandbox created, written
 * as it creates it, so `sandbox status` reads it and `sandbox down` cleans up after a crash too.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const STATE_FILE = 'sandbox.json';

/** What `sandbox status` and `sandbox down` read. */
export interface SandboxState {
  clusterId: string;
  mode: 'netns' | 'loopback';
  motoEndpoint: string | null;
  region: string;
  vip: { host: string; port: number; allocationId: string | null };
  tableName: string | null;
  documentPrefix: string | null;
  /** node name → instance id. */
  instances: Record<string, string>;
  /** node name → data directory (PostgreSQL nodes). */
  dataDirectories: Record<string, string>;
  /** pid and start time of the process that runs the sandbox (`up`). */
  owner: { pid: number; startTime: string | null };
  /**
   * The AWS proxy (sandbox/aws-proxy.ts): its control socket and every route's endpoint (one per
   * host, and `controller`). Absent in a sandbox.json written before it existed.
   */
  awsProxy?: { socket: string; routes: Record<string, string> } | null;
  /**
   * The switchover function served by the sandbox process (sandbox/switchover-endpoint.ts):
   * AWS_ENDPOINT_URL_LAMBDA and PGVIGIL_SWITCHOVER_FUNCTION for `pgvigil standby switchover`.
   * Absent in a sandbox.json written before it existed.
   */
  switchover?: { endpoint: string; functionName: string } | null;
  /** The latency profile it runs with (sandbox/latency.ts). Absent in a sandbox.json written before it existed. */
  latency?: string;
  /**
   * The writer and reader routes (sandbox/routes.ts), `host:port` each: in network namespaces only
   * (the agents' API needs an address per host). Absent in a sandbox.json written before they existed.
   */
  routes?: { writer: string; reader: string } | null;
  /** True once everything is up. */
  ready: boolean;
}

export function writeSandboxState(dir: string, state: SandboxState): void {
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(state, null, 2));
}

export function readSandboxState(dir: string): SandboxState | undefined {
  const file = join(dir, STATE_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SandboxState) : undefined;
}
