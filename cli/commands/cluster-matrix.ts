import { ExitCode } from '../../core/exit-codes.js';
import type { ClusterSnapshot } from '../../core/model.js';
import { crosscheckMatrix, reachabilityMatrix, type MatrixModel } from '../../core/reachability-matrix.js';
import { defineCommand, opt, type CommandContext } from '../../shell/framework.js';
import { clusterOption, jsonOption, loadCluster, openTarget } from '../context.js';
import { MATRIX_LEGEND, renderMatrix, renderMatrixCsv, renderMatrixJson } from '../render/matrix.js';

/** The legend under --help: repmgr's three symbols and pgvigil's `-`. */
const notes = Object.entries(MATRIX_LEGEND).map(([symbol, meaning]) => `${symbol}  ${meaning}`);

const options = {
  csv: { type: 'boolean' as const, description: 'from_node_id,to_node_id,status per pair (0 OK, -1 failed, -2 unknown, -3 not checked by design)' },
  ...jsonOption,
  ...clusterOption,
};

async function run(ctx: CommandContext, build: (s: ClusterSnapshot, now: number) => MatrixModel): Promise<number> {
  const target = await openTarget(ctx);
  const { snapshot } = await loadCluster(target);
  const model = build(snapshot, target.now());
  const code = model.issues.length > 0 ? ExitCode.ERR_NODE_STATUS : ExitCode.SUCCESS;
  if (opt.flag(ctx, 'json')) ctx.out.print(renderMatrixJson(model));
  else if (opt.flag(ctx, 'csv')) for (const line of renderMatrixCsv(model)) ctx.out.print(line);
  else {
    for (const line of renderMatrix(model)) ctx.out.print(line);
    if (model.issues.length > 0) {
      ctx.out.warning('following problems detected:');
      for (const issue of model.issues) ctx.out.print(`  - ${issue}`);
    }
  }
  return code;
}

export const clusterMatrixCommand = defineCommand({
  words: ['cluster', 'matrix'],
  summary: "show which node can reach which, from each agent's own latest checks (no SSH)",
  usage: 'cluster matrix [--csv] [--json] [--cluster ID]',
  examples: ['pgvigil cluster matrix', 'pgvigil cluster matrix --csv'],
  notes,
  options,
  run: (ctx) => run(ctx, reachabilityMatrix),
});

export const clusterCrosscheckCommand = defineCommand({
  words: ['cluster', 'crosscheck'],
  summary: 'like cluster matrix, merging both ends of every pair for a fuller picture',
  usage: 'cluster crosscheck [--csv] [--json] [--cluster ID]',
  examples: ['pgvigil cluster crosscheck'],
  notes,
  options,
  run: (ctx) => run(ctx, crosscheckMatrix),
});
