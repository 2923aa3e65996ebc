/** repmgr's `cluster matrix` / `cluster crosscheck` layout (pure). */
import type { MatrixModel, MatrixValue } from '../../core/reachability-matrix.js';

const SYMBOL: Record<MatrixValue, string> = { 0: '*', [-1]: 'x', [-2]: '?' };

/**
 * ` Name | Id |  1 |  2`, names right-aligned as repmgr prints them; the id columns widen past two
 * digits instead of breaking the layout.
 */
export function renderMatrix(model: MatrixModel): string[] {
  const nameWidth = Math.max('Name'.length, ...model.nodes.map((n) => n.node_name.length));
  const idWidth = Math.max(2, ...model.nodes.map((n) => String(n.node_id).length));
  const lines = [`${'Name'.padStart(nameWidth)} | ${'Id'.padStart(idWidth)} ${model.nodes.map((n) => `| ${String(n.node_id).padStart(idWidth)} `).join('')}`.trimEnd()];
  lines.push(`${'-'.repeat(nameWidth)}-+-${'-'.repeat(idWidth)}-${model.nodes.map(() => `+${'-'.repeat(idWidth + 2)}`).join('')}`);
  model.nodes.forEach((n, i) => {
    const cells = model.nodes.map((_, j) => `| ${SYMBOL[model.values[i]?.[j] ?? -2].padStart(idWidth)} `).join('');
    lines.push(`${n.node_name.padStart(nameWidth)} | ${String(n.node_id).padStart(idWidth)} ${cells}`.trimEnd());
  });
  return lines;
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
