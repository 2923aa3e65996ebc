import { describe, expect, it } from 'vitest';
import { clusterCrosscheckCommand, clusterMatrixCommand } from '../../cli/commands/cluster-matrix.js';
import { renderHelp } from '../../shell/framework.js';
import { program } from '../../cli/main.js';
import { MATRIX_LEGEND, renderMatrix, renderMatrixCsv, renderMatrixJson } from '../../cli/render/matrix.js';
import type { ClusterSnapshot, NodeRecord } from '../../core/model.js';
import { crosscheckMatrix, notCheckedByDesign, reachabilityMatrix } from '../../core/reachability-matrix.js';
import { NOW, clusterRecord, heartbeat, nodeRecord, primaryServer, reach, standbyServer } from '../support/cli-cluster.js';

const snapshot = (nodes: NodeRecord[], heartbeats: ClusterSnapshot['heartbeats']): ClusterSnapshot => ({ cluster: clusterRecord('m'), nodes, heartbeats });
const STALE = NOW - 600_000;

// What agents really report (agent/daemon/daemon.ts checkOthers): every other active PostgreSQL node.
const primary = nodeRecord('m', 1);
const standby = nodeRecord('m', 2);
const retired = nodeRecord('m', 3, { active: false, node_name: 'retired' });
const witness = nodeRecord('m', 4, { type: 'witness', node_name: 'witness', upstream_node_id: null });
const nodes = [primary, standby, retired, witness];

describe('cluster matrix: pairs nobody checks by design', () => {
  it('marks connections to a witness or to an inactive node "-", and a silent active agent\'s row "?"', () => {
    const s = snapshot(nodes, [
      heartbeat('m', 1, primaryServer(), { reachability: [reach(2, true)] }),
      heartbeat('m', 2, standbyServer(1), { sent_at: STALE, reachability: [reach(1, true, STALE)] }),
      heartbeat('m', 4, null, { reachability: [reach(1, true), reach(2, false)] }),
    ]);
    expect(renderMatrix(reachabilityMatrix(s, NOW))).toEqual([
      ' Name    | ID | 1 | 2 | 3 | 4',
      '---------+----+---+---+---+---',
      ' node1   | 1  | * | * | - | -',
      ' node2   | 2  | ? | ? | - | -',
      ' retired | 3  | - | - | - | -',
      ' witness | 4  | * | x | - | -',
    ]);
  });

  it('keeps "?" for a pair that should be checked but is not yet, so it is never mistaken for "-"', () => {
    const s = snapshot([primary, standby, witness], [
      heartbeat('m', 1, primaryServer(), { reachability: [] }),
      heartbeat('m', 2, standbyServer(1), { reachability: [reach(1, true)] }),
      heartbeat('m', 4, null, { reachability: [reach(1, true)] }),
    ]);
    const m = reachabilityMatrix(s, NOW);
    expect(renderMatrixCsv(m)).toEqual(['1,1,0', '1,2,-2', '1,4,-3', '2,1,0', '2,2,0', '2,4,-3', '4,1,0', '4,2,-2', '4,4,-3']);
    // Unknown and not-checked cells are not problems by themselves; a silent active agent is.
    expect(m.issues).toEqual([]);
  });

  it('shows what an inactive node that still reports sees, and raises no issue for one that is silent', () => {
    const reporting = snapshot(nodes, [
      heartbeat('m', 1, primaryServer(), { reachability: [reach(2, true)] }),
      heartbeat('m', 2, standbyServer(1), { reachability: [reach(1, true)] }),
      heartbeat('m', 3, standbyServer(1), { reachability: [reach(1, false), reach(2, true)] }),
      heartbeat('m', 4, null, { reachability: [reach(1, true), reach(2, true)] }),
    ]);
    const m = reachabilityMatrix(reporting, NOW);
    expect(m.values[2]).toEqual([-1, 0, -3, -3]);
    expect(m.issues).toEqual(['node "retired" (ID: 3) cannot reach node "node1" (ID: 1)']);
    const silent = snapshot(nodes, reporting.heartbeats.filter((h) => h.node_id !== 3));
    expect(reachabilityMatrix(silent, NOW).issues).toEqual([]);
  });

  it('fills a pair with the witness from the witness\'s end in crosscheck, and leaves "-" only where neither end checks', () => {
    const s = snapshot(nodes, [
      heartbeat('m', 1, primaryServer(), { reachability: [reach(2, true)] }),
      heartbeat('m', 2, standbyServer(1), { reachability: [reach(1, true)] }),
      heartbeat('m', 4, null, { reachability: [reach(1, true), reach(2, false)] }),
    ]);
    expect(renderMatrix(crosscheckMatrix(s, NOW))).toEqual([
      ' Name    | ID | 1 | 2 | 3 | 4',
      '---------+----+---+---+---+---',
      ' node1   | 1  | * | * | - | *',
      ' node2   | 2  | * | * | - | x',
      ' retired | 3  | - | - | - | -',
      ' witness | 4  | * | x | - | -',
    ]);
  });

  it('calls a pair with a silent witness unknown in crosscheck: the witness should have checked it', () => {
    const s = snapshot([primary, standby, witness], [
      heartbeat('m', 1, primaryServer(), { reachability: [reach(2, true)] }),
      heartbeat('m', 2, standbyServer(1), { reachability: [reach(1, true)] }),
      heartbeat('m', 4, null, { sent_at: STALE, reachability: [reach(1, true, STALE)] }),
    ]);
    const cross = crosscheckMatrix(s, NOW);
    expect(cross.values).toEqual([
      [0, 0, -2],
      [0, 0, -2],
      [-2, -2, -3],
    ]);
    expect(cross.issues).toEqual([expect.stringMatching(/^node "witness" \(ID: 4\) does not report: /)]);
  });

  it('says which nodes are not checked by design: witnesses and inactive nodes', () => {
    expect([primary, standby, retired, witness].map(notCheckedByDesign)).toEqual([false, false, true, true]);
  });

  it('carries "-" and a legend of all four symbols in --json', () => {
    const s = snapshot([primary, witness], [heartbeat('m', 1, primaryServer()), heartbeat('m', 4, null, { reachability: [reach(1, true)] })]);
    const parsed = JSON.parse(renderMatrixJson(reachabilityMatrix(s, NOW))) as { values: number[][]; cells: { status: string }[]; legend: Record<string, string> };
    expect(parsed.values).toEqual([
      [0, -3],
      [0, -3],
    ]);
    expect(parsed.cells.map((c) => c.status)).toEqual(['*', '-', '*', '-']);
    expect(Object.keys(parsed.legend)).toEqual(['*', 'x', '?', '-']);
    expect(parsed.legend).toEqual(MATRIX_LEGEND);
  });

  it('prints the legend under --help of both commands', () => {
    for (const command of [clusterMatrixCommand, clusterCrosscheckCommand]) {
      const help = renderHelp(program, command).split('\n');
      expect(help.slice(help.indexOf('Notes:'))).toEqual([
        'Notes:',
        '  *  connection OK',
        '  x  connection failed',
        '  ?  unknown: should be checked, but the agent is silent or has not checked yet',
        '  -  not checked by design: nobody connects to a witness (it has no PostgreSQL server) or to an inactive node',
      ]);
    }
  });
});
