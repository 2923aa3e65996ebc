import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { agentProgram } from '../../agent/main.js';
import { setStoreFactory, type StoreFactory } from '../../agent/commands.js';
import { program } from '../../cli/main.js';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-cluster-option-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A standby's own configuration file, node 2 of cluster "orders". */
const conf = join(dir, 'repmgr.conf');
writeFileSync(
  conf,
  ['node_id=2', "node_name='node2'", "cluster_id='orders'", "conninfo='host=db2 user=repmgr dbname=repmgr'", "data_directory='/var/lib/postgresql/15/main'", "aws_region='eu-west-1'"].join('\n'),
);

/** Where the store would come from: recorded, and never a real one (no action may run here). */
const storesAsked: string[] = [];
const refusingStore: StoreFactory = (config) => {
  storesAsked.push(config.cluster_id);
  throw new Error('test: no store in a unit test');
};

// No AWS location may leak in from the machine: every call here must end before any request.
const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };

async function run(p: typeof program, argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(p, argv, out, env);
  return { code, stdout: out.stdout, stderr: out.stderr };
}

describe('--cluster on the commands that act on this node', () => {
  let previous: StoreFactory | undefined;
  afterEach(() => {
    setStoreFactory(previous);
    storesAsked.length = 0;
  });
  const useRefusingStore = (): void => {
    previous = setStoreFactory(refusingStore);
  };

  it.each([
    [['fence'], agentProgram],
    [['promote', '--term', '4'], agentProgram],
    [['run'], agentProgram],
    [['standby', 'register'], program],
    [['node', 'check'], program],
  ] as const)('refuses %j with a --cluster other than cluster_id of its configuration file, before touching the cluster', async (words, p) => {
    useRefusingStore();
    const result = await run(p, [...words, '-f', conf, '--cluster', 'billing']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(`ERROR: --cluster "billing" contradicts cluster_id "orders" of ${conf}`);
    expect(result.stderr.join('\n')).toContain('HINT: drop --cluster');
    expect(storesAsked).toEqual([]);
  });

  it('lets a --cluster that names the configuration file\'s own cluster through', async () => {
    useRefusingStore();
    const result = await run(agentProgram, ['fence', '-f', conf, '--cluster', 'orders']);
    // It went on to build the store for cluster "orders" (which the test refuses).
    expect(storesAsked).toEqual(['orders']);
    expect(result.stderr.join('\n')).not.toContain('contradicts');
  });

  it("says in every host action's --help that the cluster comes from the configuration file", async () => {
    for (const words of [['fence'], ['run'], ['node', 'status'], ['standby', 'clone']]) {
      const result = await run(agentProgram, [...words, '--help']);
      expect(result.stdout.join('\n')).toMatch(/--cluster=VALUE +must equal cluster_id of the configuration file/);
    }
  });

  it.each([
    [['node', 'status', '--json']],
    [['standby', 'promote', '--dry-run']],
  ])('refuses pgvigil %j for another cluster rather than taking the file\'s node id there', async (words) => {
    const result = await run(program, ['-f', conf, ...words, '--cluster', 'billing']);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe('ERROR: the configuration file\'s node (ID 2) belongs to cluster "orders", not to cluster "billing" given with --cluster');
  });
});
