/**
 * `node startup`: hg_repmgr's startup rule, run before PostgreSQL starts at boot (systemd's
 * `ExecStartPre` of postgresql.service, deploy/systemd/postgresql.service.d/; docs/agent.md, "The
 * boot guard"). A former primary stopped without a fence (its host killed, no agent reached) whose
 * cluster has moved on to another primary comes up read-only, instead of writable for the seconds
 * until the agent's own startup rule (daemon.ts) fences it. The rule is the daemon's: policy.ts.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PgvigilError } from '../../core/errors.js';
import type { LoadedCluster } from '../../core/ports.js';
import { attemptWithin } from '../attempt.js';
import { leaseTimings, startupFenceReason } from '../daemon/policy.js';
import { readFence } from '../fence.js';
import { exists } from '../host.js';
import { stateFilePath } from '../daemon/state-file.js';
import { postmasterStatus } from '../pg/local.js';
import { hasStandbySignal } from '../pg/recovery.js';
import { recordEvent, type ActionContext, type ActionResult } from './context.js';
import { applyFence } from './roles.js';
import { startBlockHolder, startBlockPath } from './start-block.js';

/** How long the cluster record is waited for in all: PostgreSQL's start waits for this command. */
export const STARTUP_READ_MS = 10_000;
/** Between failed reads (at boot the network may come up a moment later). */
const RETRY_PAUSE_MS = 1000;

type ClusterRead = { ok: true; loaded: LoadedCluster | undefined } | { ok: false; error: string };

/** Reads the cluster record, each attempt within the lease path's attempt limit, all within `totalMs`. */
async function readClusterWithin(ctx: ActionContext, totalMs: number): Promise<ClusterRead> {
  const end = performance.now() + totalMs;
  const attemptMs = leaseTimings(ctx.config).attemptLimitMs;
  for (;;) {
    const r = await attemptWithin((abortSignal) => ctx.store.load(ctx.config.cluster_id, { abortSignal }), Math.max(1, Math.min(attemptMs, end - performance.now())));
    if (r.ok) return { ok: true, loaded: r.value };
    if (performance.now() + RETRY_PAUSE_MS >= end) return { ok: false, error: r.error };
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
}

export async function nodeStartup(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  const dataDir = c.data_directory;
  if (!(await exists(dataDir))) return nothingToDo(ctx, `data directory "${dataDir}" does not exist`);
  // A standby not cloned yet: pg_basebackup needs its directory empty, so nothing is written there.
  if (!(await exists(join(dataDir, 'PG_VERSION')))) return nothingToDo(ctx, `"${dataDir}" holds no PostgreSQL cluster yet (no PG_VERSION file)`);
  if ((await postmasterStatus(dataDir)).running) return nothingToDo(ctx, "the local server is already running (the agent's startup rule judges a running server)");
  const rejoining = await startBlockHolder(c.agent_state_dir);
  if (rejoining !== null) {
    // Started under pg_rewind, the server would read files as they are replaced (start-block.ts).
    throw new PgvigilError('NO_RESTART', `not starting PostgreSQL on node ${c.node_id}: a rejoin (pid ${rejoining}) is working on its data directory and starts the server itself when done`, {
      hint: `wait for that rejoin to end; it removes ${startBlockPath(c.agent_state_dir ?? '')} when it starts the server or fails`,
    });
  }
  if (await hasStandbySignal(dataDir)) return nothingToDo(ctx, `standby.signal is present: node ${c.node_id} starts as a standby`);

  const marker = await readFence(dataDir);
  const read = await readClusterWithin(ctx, STARTUP_READ_MS);
  const cluster = read.ok ? read.loaded?.snapshot.cluster : undefined;
  const why = startupFenceReason(marker, cluster, c);
  if (why === null) {
    if (!read.ok) {
      const unread = `unable to read cluster "${c.cluster_id}" within ${STARTUP_READ_MS / 1000} s (${read.error})`;
      // First boot (the agent has never run here: no state file): the node is being installed, and
      // holding it read-only would only break its registration.
      const file = stateFilePath(c);
      if (file === undefined || !(await exists(file))) {
        ctx.out.warning(`${unread}; node ${c.node_id} starts unchanged: its agent has never run here (no state file), so it is being installed, not replaced`);
        return { changed: false, message: 'cluster not read' };
      }
      // A primary that cannot confirm the cluster still names it takes no writes, as a Patroni
      // member without the leader key starts as a replica: it may have been replaced meanwhile.
      // Once the cluster can be read, the controller restarts it in place if it still is the
      // primary and no standby can take over, or fails over (docs/agent.md, "The boot guard").
      await applyFence(ctx, 'superseded', marker?.term ?? 0);
      ctx.out.warning(`${unread}; node ${c.node_id} will start read-only (standby.signal): it cannot confirm it is still the primary`);
      return { changed: true, message: 'cluster not read: held read-only' };
    }
    if (!cluster) return nothingToDo(ctx, `cluster "${c.cluster_id}" has no record yet`);
    return nothingToDo(ctx, cluster.primary_node_id === null ? `cluster "${c.cluster_id}" has no primary at term ${cluster.term}` : `cluster "${c.cluster_id}" has node ${cluster.primary_node_id} as primary at term ${cluster.term}`);
  }
  const term = Math.max(cluster?.term ?? 0, marker?.term ?? 0);
  // The server is not running: this writes the marker and standby.signal, and stops nothing.
  await applyFence(ctx, 'superseded', term);
  ctx.out.notice(`node ${c.node_id} will start read-only, fenced (standby.signal): ${why}`);
  if (read.ok) await recordEvent(ctx, 'fence_applied', true, `node ${c.node_id} fenced before PostgreSQL started: ${why}`, term);
  return { changed: true, message: why };
}

function nothingToDo(ctx: ActionContext, why: string): ActionResult {
  ctx.out.notice(`${why}; nothing to do`);
  return { changed: false, message: why };
}
