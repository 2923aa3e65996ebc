/** repmgr's `cluster matrix` / `cluster crosscheck` layout (pure). */
import type { MatrixModel, MatrixValue } from '../../core/reachability-matrix.js';
import { renderTable } from './table.js';

const SYMBOL: Record<MatrixValue, string> = { 0: '*', [-1]: 'x', [-2]: '?' };

/**
 * repmgr 5's layout: ` Name  | ID | 1 | 2 | 3`, the same table as `cluster show`, one column per
 * node id, `*` / `x` / `?` per cell.
 */
export function renderMatrix(model: MatrixModel): string[] {
  return renderTable(
    [{ title: 'Name' }, { title: 'ID' }, ...model.nodes.map((n) => ({ title: String(n.node_id) }))],
    model.nodes.map((n, i) => [n.node_name, String(n.node_id), ...model.nodes.map((_, j) => SYMBOL[model.values[i]?.[j] ?? -2])]),
  );
}

/** repmgr's `--csv`: `from_node_id,to_node_id,status` (0 OK, -1 failed, -2 unknown). */
export function renderMatrixCsv(model: MatrixModel): string[] {
  return model.nodes.flatMap((from, i) => model.nodes.map((to, j) => `${from.node_id},${to.node_id},${model.values[i]?.[j] ?? -2}`));
}

export function renderMatrixJson(model: MatrixModel): string {
  return JSON.stringify(
    {
      ...model,
      cells: model.nodes.flatMap((from, i) =>
        model.nodes.map((to, j) => ({ from_node_id: from.node_id, to_node_id: to.node_id, status: SYMBOL[model.values[i]?.[j] ?? -2] })),
      ),
    },
    null,
    2,
  );
}
