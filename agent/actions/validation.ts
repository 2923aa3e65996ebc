/**
 * repmgr's `failover_validation_command`, run on the candidate just before an automatic failover
 * promotes it. The controller never sends shell text through SSM: the command lives in the
 * candidate's own repmgr.conf, and `promote` runs it when the cluster record says a failover
 * (not a switchover or a promotion by hand) is promoting this node. A non-zero exit cancels the
 * promotion; the controller's saga aborts the round and re-evaluates after
 * `election_rerun_interval`.
 */
import { PgvigilError } from '../../core/errors.js';
import type { LoadedCluster } from '../../core/ports.js';
import { runShellCapped } from '../host.js';
import { recordEvent, type ActionContext } from './context.js';

/** The validation command may take this long before it counts as failed. */
const VALIDATION_TIMEOUT_MS = 60_000;

export interface ValidationFigures {
  /** Nodes this node can see: itself plus every active node its latest checks reached. */
  visible: number;
  /** Active registered nodes. */
  total: number;
}

/** Counts %v and %t from this node's own latest heartbeat and the node records. */
export function validationFigures(loaded: LoadedCluster, nodeId: number): ValidationFigures {
  const active = loaded.snapshot.nodes.filter((n) => n.active);
  const mine = loaded.snapshot.heartbeats.find((h) => h.node_id === nodeId);
  const reached = new Set((mine?.reachability ?? []).filter((r) => r.ok).map((r) => r.node_id));
  const visible = active.filter((n) => n.node_id === nodeId || reached.has(n.node_id)).length;
  return { visible, total: active.length };
}

/**
 * repmgr's placeholders: %n node id, %a node name, %v visible nodes, %t total nodes, %% a percent
 * sign. Substituted as repmgr does, unquoted: the name and the command come from the same file.
 */
export function expandValidationCommand(command: string, nodeId: number, nodeName: string, figures: ValidationFigures): string {
  return command.replace(/%([navt%])/g, (_, p: string) =>
    p === 'n' ? String(nodeId) : p === 'a' ? nodeName : p === 'v' ? String(figures.visible) : p === 't' ? String(figures.total) : '%',
  );
}

/** True when this promotion is an automatic failover of this node that must be validated first. */
export function needsValidation(ctx: ActionContext, loaded: LoadedCluster | undefined): loaded is LoadedCluster {
  const op = loaded?.snapshot.cluster.operation;
  return ctx.config.failover_validation_command.trim() !== '' && op?.kind === 'failover' && op.candidate_node_id === ctx.config.node_id;
}

export async function runFailoverValidation(ctx: ActionContext, loaded: LoadedCluster, term: number): Promise<void> {
  const c = ctx.config;
  const command = expandValidationCommand(c.failover_validation_command, c.node_id, c.node_name, validationFigures(loaded, c.node_id));
  ctx.out.info(`executing "failover_validation_command": ${command}`);
  const { code, output } = await runShellCapped(command, VALIDATION_TIMEOUT_MS);
  if (output.trim() !== '') ctx.out.detail(output.trim());
  if (code === 0) {
    ctx.out.info('failover validation command returned zero');
    return;
  }
  const why = code === null ? `did not finish within ${VALIDATION_TIMEOUT_MS / 1000} seconds` : `returned ${code}`;
  await recordEvent(ctx, 'repmgrd_failover_aborted', false, `failover_validation_command ${why} on node ${c.node_id}: promotion cancelled`, term);
  throw new PgvigilError('PROMOTION_FAIL', `failover validation command ${why}: not promoting`, {
    detail: output.trim() || undefined,
    hint: 'the controller re-evaluates after election_rerun_interval',
  });
}
