/**
 * `node service --action reload|restart|stop|start [--checkpoint] [--dry-run] [--force]` (repmgr's
 * `node service`): acts on the local PostgreSQL server through the agent's service layer
 * (agent/pg/service.ts: the configured `service_*_command`, else pg_ctl).
 *
 * The primary is guarded (docs/operations.md, "Restarts"): stopping or restarting it would look to
 * the controller like a failed primary, so it is refused unless `--force`; with `--force` automatic
 * failover is paused first (an operator's pause) — a restart lifts that pause once the server is
 * back, a stop leaves it for `service unpause` once the server is started again.
 */
import { PgvigilError } from '../../core/errors.js';
import { SERVICE_ACTIONS, type ServiceAction } from '../../core/host-actions.js';
import { postmasterStatus } from '../pg/local.js';
import { queryOne, withSession } from '../../adapters/pg-session.js';
import { guardTerm, recordEvent, service, sqlTimeoutMs, type ActionContext, type ActionResult } from './context.js';

export interface NodeServiceOptions {
  action: string;
  checkpoint: boolean;
  dryRun: boolean;
  force: boolean;
}

/** Refuses an action or option combination that means nothing, before anything is read or changed. */
export function checkServiceOptions(opts: NodeServiceOptions): ServiceAction {
  if (!(SERVICE_ACTIONS as readonly string[]).includes(opts.action)) {
    throw new PgvigilError('BAD_ARGUMENT', `option --action expects one of ${SERVICE_ACTIONS.join(', ')}, got "${opts.action}"`);
  }
  const action = opts.action as ServiceAction;
  if (opts.checkpoint && action !== 'stop' && action !== 'restart') {
    throw new PgvigilError('BAD_ARGUMENT', `--checkpoint goes with --action stop or restart, not ${action}`);
  }
  return action;
}

/** Is the local server, or the cluster record, the primary? */
async function isPrimary(ctx: ActionContext, running: boolean, primaryNodeId: number | null | undefined): Promise<boolean> {
  if (primaryNodeId === ctx.config.node_id) return true;
  if (!running) return false;
  const row = await withSession(ctx.config.conninfo, sqlTimeoutMs(ctx), (s) => queryOne<{ r: boolean }>(s, 'SELECT pg_is_in_recovery() AS r', [], 'read the recovery state')).catch(
    () => ({ r: true }),
  );
  return !row.r;
}

export async function nodeService(ctx: ActionContext, opts: NodeServiceOptions): Promise<ActionResult> {
  const action = checkServiceOptions(opts);
  const c = ctx.config;
  const out = ctx.out;
  const loaded = await guardTerm(ctx, `node service --action ${action}`);
  const cluster = loaded?.snapshot.cluster;
  const running = (await postmasterStatus(c.data_directory)).running;
  const primary = await isPrimary(ctx, running, cluster?.primary_node_id);
  const takesDown = (action === 'stop' || action === 'restart') && running;

  if (takesDown && primary && !opts.force) {
    const message = `node ${c.node_id} is the primary: "node service --action ${action}" would look to the controller like a failed primary`;
    if (!opts.dryRun) await recordEvent(ctx, 'action_refused', false, message, cluster?.term);
    throw new PgvigilError('BAD_ARGUMENT', message, {
      detail: 'nothing was changed',
      hint:
        action === 'restart'
          ? 'use "pgvigil cluster restart --rolling" (standbys first, then a switchover), or switch over first; --force restarts it in place with automatic failover paused'
          : 'switch over first ("pgvigil standby switchover --candidate N"); --force stops it with automatic failover paused until "node service --action start" or "service unpause"',
    });
  }
  if (action === 'reload' && !running) throw new PgvigilError('LOCAL_COMMAND', 'the local PostgreSQL server is not running: nothing to reload');

  const what = `${action} the local PostgreSQL server of node ${c.node_id}${opts.checkpoint && takesDown ? ' after a CHECKPOINT' : ''}`;
  if (opts.dryRun) {
    if ((action === 'stop' && !running) || (action === 'start' && running)) out.info(`the local server is already ${running ? 'running' : 'stopped'}: nothing would be done`);
    else out.info(`would ${what}${takesDown && primary ? ', with automatic failover paused meanwhile' : ''}`);
    out.info(`prerequisites for executing "node service --action ${action}" are met`);
    return { changed: false, message: 'dry run' };
  }
  if ((action === 'stop' && !running) || (action === 'start' && running)) {
    out.notice(`the local PostgreSQL server is already ${running ? 'running' : 'stopped'}; nothing to do`);
    return { changed: false, message: 'nothing to do' };
  }

  // An operator's pause (never lifted by the controller by itself), taken only when the cluster was not paused.
  const pausedHere = takesDown && primary && cluster !== undefined && !cluster.paused;
  if (pausedHere && cluster) {
    const write = await ctx.store.updateCluster(c.cluster_id, cluster.version, { paused: true, paused_by: null }, ctx.now());
    if (!write.ok) throw new PgvigilError('PAUSE_FAIL', 'unable to pause automatic failover: the cluster record changed meanwhile; nothing was changed', { hint: 'try again' });
    await recordEvent(ctx, 'cluster_paused', true, `automatic failover paused by "node service --action ${action} --force" on the primary, node ${c.node_id}`, cluster.term);
    out.notice('automatic failover paused while the primary is down');
  }
  if (opts.checkpoint && takesDown) {
    // A clean checkpoint first shortens the shutdown checkpoint (and the time the server is down).
    await withSession(c.conninfo, sqlTimeoutMs(ctx), async (s) => void (await s.query('CHECKPOINT'))).catch((e: unknown) =>
      out.warning(`unable to run CHECKPOINT: ${(e as Error).message}`),
    );
  }
  const svc = service(ctx);
  try {
    if (action === 'reload') await svc.reload();
    else if (action === 'stop') await svc.stop('fast');
    else if (action === 'start') await svc.start(c.promote_check_timeout);
    else await svc.restart(c.promote_check_timeout);
  } catch (error) {
    await recordEvent(ctx, 'node_service', false, `unable to ${what}: ${(error as Error).message}`, cluster?.term);
    throw error;
  }
  await recordEvent(ctx, 'node_service', true, `${action} of the local PostgreSQL server of node ${c.node_id} done${opts.checkpoint && takesDown ? ' (after a CHECKPOINT)' : ''}`, cluster?.term);
  if (pausedHere && action === 'restart') await liftOwnPause(ctx);
  if (pausedHere && action === 'stop') out.notice('automatic failover stays paused: start the server again, then "pgvigil service unpause"');
  if (action === 'start' && primary && cluster?.paused && !cluster.paused_by) out.hint('automatic failover is paused: "pgvigil service unpause" resumes it');
  out.notice(`node service --action ${action} completed`);
  return { changed: true, message: `${action} done` };
}

/** Lifts the pause this action took, if it is still an operator's pause. */
async function liftOwnPause(ctx: ActionContext): Promise<void> {
  const c = ctx.config;
  const now = (await ctx.store.load(c.cluster_id).catch(() => undefined))?.snapshot.cluster;
  if (!now?.paused || now.paused_by) return;
  const write = await ctx.store.updateCluster(c.cluster_id, now.version, { paused: false, paused_by: null }, ctx.now()).catch(() => ({ ok: false }));
  if (!write.ok) {
    ctx.out.warning('unable to resume automatic failover: run "pgvigil service unpause"');
    return;
  }
  await recordEvent(ctx, 'cluster_unpaused', true, `automatic failover resumed: the primary, node ${c.node_id}, is back after "node service --action restart --force"`, now.term);
  ctx.out.notice('automatic failover resumed');
}
