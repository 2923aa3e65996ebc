/**
 * What every host action shares: its configuration, the cluster state store, repmgr-style output,
 * the `--term` fencing token, and event recording.
 */
import { PgvigilError } from '../../core/errors.js';
import type { EventName } from '../../core/events.js';
import type { ClusterRecord, NodeRecord } from '../../core/model.js';
import type { ClusterStateStore, LoadedCluster } from '../../core/ports.js';
import type { Output } from '../../shell/output.js';
import type { AgentConfig } from '../config.js';
import { LocalService } from '../pg/service.js';

export interface ActionContext {
  config: AgentConfig;
  store: ClusterStateStore;
  out: Output;
  /** Wall clock, ms since the epoch (event timestamps). */
  now(): number;
  /** `--term T` when the controller sent the action; undefined when run by hand. */
  term: number | undefined;
  /** The configuration file the action was started with (stored in node records). */
  configFile?: string | undefined;
}

/** What an action did; `changed: false` means it found the work already done (idempotence). */
export interface ActionResult {
  changed: boolean;
  message: string;
}

export function service(ctx: ActionContext): LocalService {
  return new LocalService(ctx.config);
}

/** Bounds for one SQL step of an action. */
export function sqlTimeoutMs(ctx: ActionContext): number {
  return Math.max(5, Math.min(ctx.config.promote_check_timeout, 30)) * 1000;
}

export async function loadCluster(ctx: ActionContext): Promise<LoadedCluster | undefined> {
  try {
    return await ctx.store.load(ctx.config.cluster_id);
  } catch (error) {
    throw new PgvigilError('AWS', `unable to read the state of cluster "${ctx.config.cluster_id}"`, {
      detail: (error as Error).message,
      hint: 'check that DynamoDB is reachable (AWS_ENDPOINT_URL, credentials, "state_table")',
      cause: error,
      retryable: true,
    });
  }
}

export async function requireCluster(ctx: ActionContext): Promise<LoadedCluster> {
  const loaded = await loadCluster(ctx);
  if (!loaded) {
    throw new PgvigilError('NOT_FOUND', `cluster "${ctx.config.cluster_id}" has no record yet`, {
      hint: 'register the primary first with "primary register"',
    });
  }
  return loaded;
}

export function findNode(loaded: LoadedCluster | undefined, nodeId: number): NodeRecord | undefined {
  return loaded?.snapshot.nodes.find((n) => n.node_id === nodeId);
}

export async function recordEvent(ctx: ActionContext, event: EventName, successful: boolean, details: string, term?: number): Promise<void> {
  try {
    await ctx.store.appendEvent({
      cluster_id: ctx.config.cluster_id,
      node_id: ctx.config.node_id,
      event,
      successful,
      timestamp: ctx.now(),
      details: details.slice(0, 8000),
      term: term ?? ctx.term ?? 0,
    });
  } catch (error) {
    ctx.out.warning(`unable to record event "${event}": ${(error as Error).message}`);
  }
}

/**
 * The fencing token: refuses the action (exit code, `action_refused` event, nothing changed) when
 * `--term` is older than the cluster's current term. Returns the cluster as read.
 */
export async function guardTerm(ctx: ActionContext, action: string): Promise<LoadedCluster | undefined> {
  if (ctx.term === undefined) return loadCluster(ctx);
  const loaded = await loadCluster(ctx);
  const current = loaded?.snapshot.cluster.term;
  if (current !== undefined && ctx.term < current) {
    const message = `refusing "${action}": term ${ctx.term} is older than the cluster's current term ${current}`;
    await recordEvent(ctx, 'action_refused', false, message, current);
    throw new PgvigilError('STALE_TERM', message, {
      detail: `cluster "${ctx.config.cluster_id}" is at term ${current}; nothing was changed`,
    });
  }
  return loaded;
}

export function currentTerm(ctx: ActionContext, cluster: ClusterRecord | undefined): number {
  return Math.max(cluster?.term ?? 0, ctx.term ?? 0);
}
