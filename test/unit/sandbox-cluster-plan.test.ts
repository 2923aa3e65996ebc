import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/index.js';
import { ConfigError } from '../../core/errors.js';
import { planCluster, quoteConfValue, writePlanFiles } from '../../sandbox/cluster-plan.js';

const addresses = { node1: '10.213.0.11', node2: '10.213.0.12', node3: '10.213.0.13', witness: '10.213.0.14' };

describe('planCluster', () => {
  it('lays out three PostgreSQL nodes in three locations and a witness, node1 first as primary', () => {
    const plan = planCluster({ dir: '/tmp/sbx', addresses, instanceIds: { node1: 'i-0000000000000001a', node2: 'i-0000000000000002a', node3: 'i-0000000000000003a', witness: 'i-0000000000000004a' } });
    expect(plan.nodes.map((n) => [n.node_id, n.node_name, n.role, n.location, n.postgres])).toEqual([
      [1, 'node1', 'primary', 'az-a', true],
      [2, 'node2', 'standby', 'az-b', true],
      [3, 'node3', 'standby', 'az-c', true],
      [4, 'witness', 'witness', 'az-c', false],
    ]);
    expect(plan.primary.node_name).toBe('node1');
    expect(plan.postgresSettings.node2).toMatchObject({
      listen_addresses: '10.213.0.12',
      cluster_name: 'node2',
      synchronous_standby_names: 'ANY 1 (node1, node3)',
      unix_socket_directories: '/tmp/sbx/hosts/node2/run',
    });
    expect(plan.postgresSettings.witness).toBeUndefined();
  });

  it('writes repmgr.conf files that the real parser loads with the fast-failover sandbox defaults', () => {
    const plan = planCluster({ dir: '/tmp/sbx', addresses, instanceIds: { node2: 'i-0123456789abcdef0' }, vipAllocationId: 'eipalloc-0123456789abcdef0' });
    const { config } = parseConfig(plan.configs.node2 as string, '/tmp/sbx/hosts/node2/repmgr.conf');
    expect(config).toMatchObject({
      node_id: 2,
      node_name: 'node2',
      conninfo: 'host=10.213.0.12 port=5432 user=postgres dbname=postgres connect_timeout=2',
      data_directory: '/tmp/sbx/hosts/node2/data',
      location: 'az-b',
      cluster_id: 'sandbox',
      instance_id: 'i-0123456789abcdef0',
      vip_allocation_id: 'eipalloc-0123456789abcdef0',
      monitor_interval_secs: 1,
      reconnect_attempts: 2,
      reconnect_interval: 1,
      heartbeat_interval_secs: 1,
      lease_secs: 5,
      auto_rejoin: true,
    });
  });

  it('applies a --config file to every node', () => {
    const plan = planCluster({ dir: '/tmp/sbx', addresses, overrides: { file: 'fast.conf', text: '# slower, and repmgr\'s location rule\nlease_secs=8\nfailover_on_location_loss=false\n' } });
    for (const name of ['node1', 'node2', 'node3', 'witness']) {
      const { config } = parseConfig(plan.configs[name] as string, name);
      expect(config.lease_secs).toBe(8);
      expect(config.failover_on_location_loss).toBe(false);
    }
    expect(plan.overrides).toEqual({ lease_secs: '8', failover_on_location_loss: 'false' });
  });

  it('refuses an override of a per-node key, naming the file and line', () => {
    expect(() => planCluster({ dir: '/tmp/sbx', overrides: { file: 'mine.conf', text: 'lease_secs=8\nnode_id=7\n' } })).toThrow(
      /mine\.conf:2: "node_id": node_id is set per node/,
    );
  });

  it('reports a bad override value with its line, and checks it together with the sandbox defaults', () => {
    expect(() => planCluster({ dir: '/tmp/sbx', overrides: { file: 'x.conf', text: '\nlease_secs=soon\n' } })).toThrow(/x\.conf:2: "lease_secs"/);
    // heartbeat_interval_secs is 1 in the sandbox, so a lease of 1 s cannot outlive one lost write.
    const error = (() => {
      try {
        planCluster({ dir: '/tmp/sbx', overrides: { file: 'x.conf', text: 'lease_secs=1\n' } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/x\.conf:1: "lease_secs": expected at least 2 × heartbeat_interval_secs/);
    expect(() => planCluster({ dir: '/tmp/sbx', overrides: { file: 'x.conf', text: 'lease_sec=8\n' } })).toThrow(/unknown key lease_sec/);
  });

  it('refuses two nodes on one loopback address and port', () => {
    expect(() => planCluster({ dir: '/tmp/sbx' })).toThrow(/node2 and node1 would both listen on 127.0.0.1:5432/);
    const plan = planCluster({ dir: '/tmp/sbx', ports: { node1: 6001, node2: 6002, node3: 6003 } });
    expect(plan.nodes.map((n) => n.port)).toEqual([6001, 6002, 6003, 5432]);
  });

  it('quotes values the repmgr.conf way and lists the files to write', () => {
    expect(quoteConfValue("it's a\\path")).toBe("'it''s a\\\\path'");
    const plan = planCluster({ dir: '/tmp/sbx', addresses });
    const written: string[] = [];
    writePlanFiles(plan, { mkdir: (p) => written.push(`dir ${p}`), writeFile: (p) => written.push(`file ${p}`) });
    expect(written).toContain('file /tmp/sbx/hosts/witness/repmgr.conf');
    expect(written).toContain('dir /tmp/sbx/hosts/node1/run');
  });
});
