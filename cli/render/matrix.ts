/** repmgr's `cluster matrix` / `cluster crosscheck` layout (pure). */
import { MATRIX, type MatrixModel, type MatrixValue } from '../../core/reachability-matrix.js';
import { renderTable } from './table.js';

/** repmgr's three symbols, and `-` for a pair nobody checks by design. */
export const MATRIX_SYMBOL: Record<MatrixValue, string> = { 0: '*', [-1]: 'x', [-2]: '?', [-3]: '-' };

/** What each symbol means (`--help`, `--json`, docs/cli.md). */
export const MATRIX_LEGEND: Record<string, string> = {
  '*': 'connection OK',
  x: 'connection failed',
  '?': 'unknown: should be checked, but the agent is silent or has not checked yet',
  '-': 'not checked by design: nobody connects to a witness (it has no PostgreSQL server) or to an inactive node',
};

const valueAt = (model: MatrixModel, i: number, j: number): MatrixValue => model.values[i]?.[j] ?? MATRIX.unknown;

/**
 * repmgr 5's layout: ` Name  | ID | 1 | 2 | 3`, the same table as `cluster show`, one column per
 * node id, `*` / `x` / `?` per cell, and `-` where nobody checks by design.
 */
export function renderMatrix(model: MatrixModel): string[] {
  return renderTable(
    [{ title: 'Name' }, { title: 'ID' }, ...model.nodes.map((n) => ({ title: String(n.node_id) }))],
    model.nodes.map((n, i) => [n.node_name, String(n.node_id), ...model.nodes.map((_, j) => MATRIX_SYMBOL[valueAt(model, i, j)])]),
  );
}

/** repmgr's `--csv`: `from_node_id,to_node_id,status` (0 OK, -1 failed, -2 unknown; -3 not checked by design). */
export function renderMatrixCsv(model: MatrixModel): string[] {
  return model.nodes.flatMap((from, i) => model.nodes.map((to, j) => `${from.node_id},${to.node_id},${valueAt(model, i, j)}`));
}

export function renderMatrixJson(model: MatrixModel): string {
  return JSON.stringify(
    {
      ...model,
      cells: model.nodes.flatMap((from, i) =>
        model.nodes.map((to, j) => ({ from_node_id: from.node_id, to_node_id: to.node_id, status: MATRIX_SYMBOL[valueAt(model, i, j)] })),
      ),
      legend: MATRIX_LEGEND,
    },
    null,
    2,
  );
}
