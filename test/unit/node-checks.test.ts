import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../core/exit-codes.js';
import { dbConnectionCheck, downstreamCheck, nodeCheckExitCode, roleCheck, upstreamCheck } from '../../core/node-checks.js';
import { nodeRecord, primaryServer, standbyServer } from '../support/cli-cluster.js';

describe('node checks shared by the CLI and the agent', () => {
  it('reports an unregistered node as UNKNOWN and names what it runs as', () => {
    expect(roleCheck(null, standbyServer(1))).toEqual({ status: 'UNKNOWN', detail: 'node is standby but not registered (or the cluster state is unreachable)' });
    expect(roleCheck(null, primaryServer())).toEqual({ status: 'UNKNOWN', detail: 'node is primary but not registered (or the cluster state is unreachable)' });
  });

  it('judges a node by what the checks need of it, registered or not', () => {
    const self = { node_id: 3, node_name: 'node3', type: 'standby' as const, upstream_node_id: null };
    expect(upstreamCheck(self, standbyServer(2), [])).toEqual({ status: 'OK', detail: 'node "node3" (ID: 3) is attached to expected upstream node' });
    expect(downstreamCheck(self, standbyServer(2), [nodeRecord('u', 1)])).toEqual({ status: 'OK', detail: 'this node has no downstream nodes' });
    expect(dbConnectionCheck(self, { ...standbyServer(2), accepting_connections: false, postmaster_running: false })).toEqual({ status: 'CRITICAL', detail: 'the server is not running' });
  });

  it.each([
    ['OK', true, 0],
    ['WARNING', true, 1],
    ['CRITICAL', true, 2],
    ['UNKNOWN', true, 3],
    ['OK', false, ExitCode.SUCCESS],
    ['WARNING', false, ExitCode.ERR_NODE_STATUS],
    ['UNKNOWN', false, ExitCode.ERR_NODE_STATUS],
  ] as const)('exits with %s and Nagios codes %s as %d', (worst, nagios, code) => {
    expect(nodeCheckExitCode(worst, nagios)).toBe(code);
  });
});
