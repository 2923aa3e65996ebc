/**
 * The role-changing actions (docs/agent.md): promote, follow, rejoin, fence, unfence, demote, and
 * disconnect/reconnect of the WAL receiver. Each one checks the `--term` fencing token first,
 * is idempotent (it says when it found the work already done), and records its event.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';
import { compareLsn, isLsn } from '../../core/lsn.js';
import type { NodeRecord } from '../../core/model.js';
import type { LoadedCluster } from '../../core/ports.js';
import { exists, readDataFile, removeDataFile, requireDataDirectory, runPgBinary, writeDataFile } from '../host.js';
import { failsafeHoldMs, promoteHeld } from '../daemon/failsafe.js';
import { clearPromoting, hostMonotonicMs, markPromoting, promiseFile, readPromise } from '../failsafe-promise.js';
import { readFence, removeFence, writeFence } from '../fence.js';
import { formatConninfo, hostPort, parseConninfo } from '../pg/conninfo.js';
import { controlData, postmasterStatus, probeLocalServer, queryServerState, removeStaleLockFile, timelineOfWalFile, type LocalProbe } from '../pg/local.js';
import { hasStandbySignal, readAutoConfSetting, removeStandbySignal, writeAutoConfSettings, writeStandbySignal } from '../pg/recovery.js';
import { LocalService } from '../pg/service.js';
import { queryOne, withSession } from '../../adapters/pg-session.js';
import { downgradeSync, savedSyncNames } from '../pg/sync.js';
import { primaryConninfoFor } from './clone.js';
import { currentTerm, findNode, guardTerm, recordEvent, requireCluster, service, sqlTimeoutMs, type ActionContext, type ActionResult } from './context.js';
import { withHostLock } from './host-lock.js';
import { withStartBlock } from './start-block.js';
import { buildNodeRecord, slotName } from './register.js';
import { needsValidation, runFailoverValidation } from './validation.js';

/** Where disconnect-wal-receiver keeps the primary_conninfo it cleared. */
const SAVED_CONNINFO = 'pgvigil.primary_conninfo';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function localRole(ctx: ActionContext): Promise<{ inRecovery: boolean; timeline: number; lsn: string }> {
  return withSession(ctx.config.conninfo, sqlTimeoutMs(ctx), async (s) => {
    const row = await queryOne<{ r: boolean; walfile: string | null; tli: number; lsn: string }>(
      s,
      `SELECT pg_is_in_recovery() AS r,
              CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS tli,
              COALESCE(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, '0/0')::text AS lsn`,
      [],
      'checking the local server',
    );
    return { inRecovery: row.r, timeline: row.walfile ? timelineOfWalFile(row.walfile) : row.tli, lsn: row.lsn };
  });
}

/**
 * Writes this node's record with `change`, onto the record as it is now: an action reads the
 * cluster when it starts and may write seconds later, and the controller may have written the
 * record meanwhile — a failover's fence that stopped this instance records `instance_stopped_at`
 * and `active: false`, which auto_rejoin needs to start the instance again. A write from the copy
 * read at the start (a fence action finishing as the instance stops) erased both, and the node
 * stayed stopped (docs/controller.md, "Stuck states").
 */
export async function updateOwnRecord(ctx: ActionContext, loaded: LoadedCluster | undefined, change: Partial<NodeRecord>, reread = true): Promise<void> {
  // A promotion's own write skips the read (the failover waits on it; the saga writes the
  // candidate's record only after the promote has answered).
  const current = reread ? await ctx.store.load(ctx.config.cluster_id).catch(() => undefined) : undefined;
  await writeOwnRecord(ctx, current, loaded, change);
}

async function writeOwnRecord(ctx: ActionContext, current: LoadedCluster | undefined, loaded: LoadedCluster | undefined, change: Partial<NodeRecord>): Promise<void> {
  const existing = findNode(current, ctx.config.node_id) ?? findNode(loaded, ctx.config.node_id);
  const base = existing ?? buildNodeRecord(ctx, change.type ?? 'standby', change.upstream_node_id ?? null, undefined);
  await ctx.store.putNode({ ...base, ...change, updated_at: ctx.now() });
}

/**
 * Records this node rejoined as a standby of `upstreamId`. The standbys registered under it while it
 * was the primary were the primary's own, not cascaded under it: they are registered under its new
 * upstream first, so the engine makes them follow the primary rather than leave them streaming
 * through this node, which their unchanged conninfo reaches again as soon as it is back
 * (docs/decision-engine.md, "Order"). Only from a fresh read: a stale copy would overwrite what
 * their own agents or the controller wrote since.
 */
export async function recordRejoined(ctx: ActionContext, loaded: LoadedCluster | undefined, upstreamId: number): Promise<void> {
  const current = await ctx.store.load(ctx.config.cluster_id).catch(() => undefined);
  if (findNode(current, ctx.config.node_id)?.type === 'primary') {
    for (const n of current?.snapshot.nodes ?? []) {
      if (n.node_id === ctx.config.node_id || n.type !== 'standby' || n.upstream_node_id !== ctx.config.node_id) continue;
      await ctx.store.putNode({ ...n, upstream_node_id: upstreamId, updated_at: ctx.now() });
      ctx.out.info(`node ${n.node_id} was registered under this node while it was the primary: now registered under node ${upstreamId}`);
    }
  }
  await writeOwnRecord(ctx, current, loaded, { type: 'standby', upstream_node_id: upstreamId, fenced: false, instance_stopped_at: null, active: true });
}

// ---------------------------------------------------------------------------------------------
// promote

export async function promote(ctx: ActionContext): Promise<ActionResult> {
  const progress = { requested: false };
  try {
    return await promoteLocal(ctx, progress);
  } catch (error) {
    throw progress.requested ? error : notStarted(error);
  }
}

async function promoteLocal(ctx: ActionContext, progress: { requested: boolean }): Promise<ActionResult> {
  const c = ctx.config;
  const out = ctx.out;
  await requireDataDirectory(c.data_directory);
  const loaded = await guardTerm(ctx, 'promote');
  const cluster = loaded?.snapshot.cluster;
  if (await readFence(c.data_directory)) {
    throw new PgvigilError('PROMOTION_FAIL', 'this node is fenced and cannot be promoted', { hint: 'rejoin it as a standby first' });
  }
  const before = await localRole(ctx).catch((error: unknown) => {
    throw new PgvigilError('DB_CONN', 'unable to connect to the local node', { detail: (error as PgvigilError).detail ?? (error as Error).message, hint: 'the local server must be running to be promoted' });
  });
  const term = currentTerm(ctx, cluster);
  if (!before.inRecovery) {
    out.notice(`node "${c.node_name}" (ID: ${c.node_id}) is already primary (timeline ${before.timeline}); nothing to do`);
    await claimPrimary(ctx, loaded);
    await updateOwnRecord(ctx, loaded, { type: 'primary', upstream_node_id: null, fenced: false, active: true }, false);
    await recordEvent(ctx, 'standby_promote', true, `node ${c.node_id} was already primary on timeline ${before.timeline} (term ${term})`, term);
    return { changed: false, message: 'already primary' };
  }
  // Announce the promote before reading the failsafe promise: the daemon records a promise before
  // it reads this marker, so a confirmation and this promotion never both go ahead.
  if (c.agent_state_dir) await markPromoting(c);
  try {
    if (c.agent_state_dir) await refuseWhileFailsafeHeld(ctx, term);
    return await promoteStandby(ctx, loaded, before, term, progress);
  } finally {
    if (c.agent_state_dir) await clearPromoting(c);
  }
}

/**
 * A refusal before `pg_promote()` was called says so in its output (core/host-actions.ts): the
 * switchover rolls back only then, since a promote that failed after the call may still complete.
 */
function notStarted(error: unknown): PgvigilError {
  const e = error instanceof PgvigilError ? error : new PgvigilError('PROMOTION_FAIL', 'STANDBY PROMOTE failed', { detail: (error as Error).message, cause: error });
  return new PgvigilError(e.code, e.message, { detail: e.detail === undefined ? PROMOTE_NOT_STARTED : `${e.detail}\n${PROMOTE_NOT_STARTED}`, hint: e.hint, retryable: e.retryable, cause: e.cause ?? error });
}

/**
 * A standby that confirmed to a primary cut off from DynamoDB that it still sees it promised not to
 * be promoted for the failsafe hold (docs/architecture.md, "Failsafe mode"), whatever the term.
 */
async function refuseWhileFailsafeHeld(ctx: ActionContext, term: number): Promise<void> {
  const c = ctx.config;
  const read = await readPromise(c);
  if (read.problem) ctx.out.warning(`failsafe promise file ${promiseFile(c)}: ${read.problem}; counted as made now`);
  const hold = promoteHeld(read.confirmedMono, hostMonotonicMs(), failsafeHoldMs(c));
  if (!hold.held) return;
  const whom = read.promise ? `primary node ${read.promise.primary_node_id} (term ${read.promise.term})` : 'a primary';
  const why = `this node confirmed to ${whom} that it still sees it (failsafe mode); it refuses promotion for another ${(hold.remainingMs / 1000).toFixed(1)} s`;
  await recordEvent(ctx, 'standby_promote', false, `promotion refused: ${why}`, term);
  throw new PgvigilError('PROMOTION_FAIL', 'STANDBY PROMOTE refused: the primary may still be serving in failsafe mode', { detail: why, hint: 'nothing was changed; try again after the hold' });
}

async function promoteStandby(ctx: ActionContext, loaded: LoadedCluster | undefined, before: { timeline: number }, term: number, progress: { requested: boolean }): Promise<ActionResult> {
  const c = ctx.config;
  const out = ctx.out;
  if (needsValidation(ctx, loaded)) await runFailoverValidation(ctx, loaded, term);
  const finalLsn = switchoverFinalLsn(ctx, loaded);
  if (finalLsn !== null) await waitForFinalLsn(ctx, finalLsn, term);
  out.notice('promoting standby to primary');
  out.detail(`promoting server "${c.node_name}" (ID: ${c.node_id}) using pg_promote()`);
  const timeoutSecs = Math.ceil(c.promote_check_timeout);
  try {
    await withSession(c.conninfo, (timeoutSecs + 10) * 1000, async (s) => {
      progress.requested = true;
      const row = await queryOne<{ ok: boolean }>(s, 'SELECT pg_promote(true, $1) AS ok', [timeoutSecs], 'pg_promote()');
      if (!row.ok) throw new PgvigilError('PROMOTION_FAIL', `promotion did not complete within ${timeoutSecs} seconds`);
    });
  } catch (error) {
    await recordEvent(ctx, 'standby_promote', false, `promotion failed: ${(error as Error).message}`, term);
    if (error instanceof PgvigilError && error.code === 'PROMOTION_FAIL') throw error;
    throw new PgvigilError('PROMOTION_FAIL', 'STANDBY PROMOTE failed', { detail: (error as PgvigilError).detail ?? (error as Error).message, cause: error });
  }
  const deadline = Date.now() + timeoutSecs * 1000;
  let after = await localRole(ctx);
  while (after.inRecovery && Date.now() < deadline) {
    await sleep(c.promote_check_interval * 1000);
    after = await localRole(ctx);
  }
  if (after.inRecovery || after.timeline <= before.timeline) {
    await recordEvent(ctx, 'standby_promote', false, `node still in recovery or timeline unchanged (${after.timeline})`, term);
    throw new PgvigilError('PROMOTION_FAIL', 'STANDBY PROMOTE failed: the server did not leave recovery on a new timeline', {
      detail: `in recovery: ${after.inRecovery}, timeline ${before.timeline} → ${after.timeline}`,
    });
  }
  // Writes flow as soon as possible: the local downgrade first, then the records, side by side.
  const downgraded = await downgradeSyncAfterPromotion(ctx);
  await Promise.all([
    claimPrimary(ctx, loaded).then(() => updateOwnRecord(ctx, loaded, { type: 'primary', upstream_node_id: null, fenced: false, active: true }, false)),
    recordEvent(ctx, 'standby_promote', true, `server "${c.node_name}" (ID: ${c.node_id}) was successfully promoted to primary on timeline ${after.timeline}`, term),
    downgraded === null ? undefined : recordEvent(ctx, 'sync_downgraded', true, `promoted with no synchronous standby following yet; synchronous_standby_names "${downgraded}" cleared until one has caught up`, term),
  ]);
  out.notice('STANDBY PROMOTE successful');
  out.detail(`server "${c.node_name}" (ID: ${c.node_id}) was successfully promoted to primary (timeline ${before.timeline} → ${after.timeline})`);
  return { changed: true, message: `promoted on timeline ${after.timeline}` };
}

/**
 * The demoted primary's final LSN when this promote is the candidate's step of a switchover (the
 * saga records it in the cluster record's operation before it sends promote); null otherwise.
 */
function switchoverFinalLsn(ctx: ActionContext, loaded: LoadedCluster | undefined): string | null {
  const op = loaded?.snapshot.cluster.operation;
  if (!op || op.kind !== 'switchover' || op.candidate_node_id !== ctx.config.node_id || ctx.term === undefined || op.term !== ctx.term) return null;
  const lsn = op.data.final_lsn;
  return typeof lsn === 'string' && isLsn(lsn) ? lsn : null;
}

/**
 * A switchover promotes only a standby that has received everything the old primary wrote up to
 * its clean shutdown (docs/controller.md, no committed transaction lost). The candidate checks that itself,
 * on its own server, right before promoting (as repmgr's `standby switchover` does), instead of
 * the controller waiting for its next heartbeat: waits up to `wal_receive_check_timeout`, then
 * refuses and changes nothing (the saga rolls back).
 */
async function waitForFinalLsn(ctx: ActionContext, finalLsn: string, term: number): Promise<void> {
  const c = ctx.config;
  const deadline = Date.now() + c.wal_receive_check_timeout * 1000;
  let received: string;
  for (;;) {
    received = await withSession(c.conninfo, sqlTimeoutMs(ctx), async (s) => {
      const row = await queryOne<{ lsn: string | null }>(
        s,
        'SELECT GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text AS lsn',
        [],
        'reading the received WAL position',
      );
      return row.lsn ?? '0/0';
    });
    if (compareLsn(received, finalLsn) >= 0) break;
    if (Date.now() >= deadline) {
      const why = `the standby has received WAL up to ${received} only, not the demoted primary's final LSN ${finalLsn}, within wal_receive_check_timeout=${c.wal_receive_check_timeout}s`;
      await recordEvent(ctx, 'standby_promote', false, `promotion refused: ${why}`, term);
      throw new PgvigilError('PROMOTION_FAIL', 'STANDBY PROMOTE refused: this standby is missing WAL the old primary wrote', { detail: why, hint: 'nothing was changed; the switchover rolls back' });
    }
    await sleep(50);
  }
  ctx.out.info(`the standby has received the demoted primary's final LSN ${finalLsn} (received up to ${received})`);
}

/**
 * A server just promoted has no standby following it yet by construction (they follow it after the
 * Elastic IP moves), so with synchronous replication every write would wait for the first follower.
 * With `sync_downgrade_after_secs` > 0 the operator has accepted asynchronous replication while no
 * synchronous standby is connected: clear synchronous_standby_names here, before the promote
 * returns and the Elastic IP moves, instead of at the daemon's next tick. The promoted candidate
 * was itself synchronous, so every write acknowledged before the failover is on it. The daemon
 * restores the setting once a synchronous standby has caught up (the same saved file). Returns
 * the value it cleared (for the `sync_downgraded` event), or null.
 */
async function downgradeSyncAfterPromotion(ctx: ActionContext): Promise<string | null> {
  const c = ctx.config;
  if (c.sync_downgrade_after_secs <= 0 || (await savedSyncNames(c.data_directory)) !== undefined) return null;
  try {
    const names = await withSession(c.conninfo, sqlTimeoutMs(ctx), async (s) => (await queryOne<{ v: string }>(s, 'SELECT current_setting($1) AS v', ['synchronous_standby_names'], 'synchronous_standby_names')).v);
    if (names.trim() === '') return null;
    await downgradeSync(c.conninfo, c.data_directory, names, sqlTimeoutMs(ctx));
    ctx.out.notice(`synchronous_standby_names "${names}" cleared until a synchronous standby has caught up (sync_downgrade_after_secs=${c.sync_downgrade_after_secs})`);
    return names;
  } catch (error) {
    // Not fatal: the promotion stands, and the daemon downgrades at its next tick.
    ctx.out.warning(`could not clear synchronous_standby_names after the promotion: ${(error as Error).message}`);
    return null;
  }
}

/**
 * A promotion by hand (no --term) is the operator's decision, as with repmgr: the cluster record
 * moves to a new term with this node as primary. With --term the controller has already claimed
 * the term; the agent never elects itself.
 */
async function claimPrimary(ctx: ActionContext, loaded: LoadedCluster | undefined): Promise<void> {
  if (ctx.term !== undefined || !loaded) return;
  const cluster = loaded.snapshot.cluster;
  if (cluster.primary_node_id === ctx.config.node_id) return;
  if (cluster.operation) {
    ctx.out.warning(`a ${cluster.operation.kind} is in progress in the cluster; the cluster record was not changed`);
    return;
  }
  const r = await ctx.store.updateCluster(ctx.config.cluster_id, cluster.version, { term: cluster.term + 1, primary_node_id: ctx.config.node_id }, ctx.now());
  if (r.ok) ctx.out.notice(`cluster "${ctx.config.cluster_id}" is now at term ${cluster.term + 1} with node ${ctx.config.node_id} as primary`);
  else ctx.out.warning('the cluster record changed meanwhile and was not updated');
}

// ---------------------------------------------------------------------------------------------
// follow / rejoin

/**
 * `streaming`: the WAL receiver streams from the upstream, but its timeline is behind the
 * upstream's (it may be switching) or the upstream's could not be read.
 */
type Attachment = { attached: true } | { attached: false; saw: string; streaming?: 'behind' | 'unread' };

/**
 * Whether the local standby follows `upstream`: its WAL receiver streams from it, on the
 * upstream's timeline (docs/agent.md, "Following a new timeline"). "Streaming" alone proves
 * nothing: a receiver reads so before it has connected, while it fetches the old timeline's WAL
 * from a new primary up to the fork, and, past the fork, in the moments before each refusal.
 * received_tli is the timeline of the WAL it streams, which moves to the new one only once
 * recovery has taken it as its own; a standby's pg_control_checkpoint() timeline is its last
 * restartpoint's, which stays on the old one for minutes after a good follow.
 */
async function attachment(ctx: ActionContext, upstream: NodeRecord, nodes: readonly NodeRecord[], probe: LocalProbe): Promise<Attachment> {
  if (!probe.accepting_connections) return { attached: false, saw: `the local server accepts no connections (${probe.error ?? 'no answer'})` };
  if (probe.in_recovery !== true) return { attached: false, saw: 'the local server is not in recovery' };
  const sender = probe.wal_receiver_sender ? ` from ${probe.wal_receiver_sender.host}:${probe.wal_receiver_sender.port}` : '';
  if (probe.wal_receiver_status === null) return { attached: false, saw: 'no WAL receiver is running' };
  if (probe.wal_receiver_status !== 'streaming' || probe.wal_receiver_upstream_node_id !== upstream.node_id) {
    return { attached: false, saw: `its WAL receiver is ${probe.wal_receiver_status}${sender || ', not connected'}` };
  }
  let timeline: number | null;
  try {
    timeline = await withSession(upstream.conninfo, sqlTimeoutMs(ctx), async (s) => (await queryServerState(s, nodes)).timeline);
  } catch (error) {
    return { attached: false, streaming: 'unread', saw: `its WAL receiver streams from node ${upstream.node_id}, whose timeline could not be read: ${(error as Error).message}` };
  }
  const received = probe.wal_receiver_timeline;
  if (timeline === null || received === null || received < timeline) {
    return { attached: false, streaming: 'behind', saw: `its WAL receiver streams from node ${upstream.node_id} on timeline ${received ?? 'unknown'}, and node ${upstream.node_id} is on timeline ${timeline ?? 'unknown'}` };
  }
  return { attached: true };
}

/** Waits until the local standby follows `upstream` (above); else what it saw last. */
async function waitForAttachment(ctx: ActionContext, upstream: NodeRecord, nodes: readonly NodeRecord[], timeoutSecs: number): Promise<Attachment> {
  const deadline = Date.now() + timeoutSecs * 1000;
  for (;;) {
    const probe = await probeLocalServer({ conninfo: ctx.config.conninfo, dataDir: ctx.config.data_directory, timeoutMs: 5000, nodes });
    const a = await attachment(ctx, upstream, nodes, probe);
    if (a.attached || Date.now() >= deadline) return a;
    await sleep(500);
  }
}

async function ensureSlot(ctx: ActionContext, upstream: NodeRecord): Promise<void> {
  if (!ctx.config.use_replication_slots) return;
  const slot = slotName(ctx.config.node_id);
  await withSession(upstream.conninfo, sqlTimeoutMs(ctx), async (s) => {
    await s.query(
      `SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
      [slot],
    );
  });
}

async function configureStandby(ctx: ActionContext, upstream: NodeRecord): Promise<void> {
  // A WAL receiver disconnected earlier would be reconnected to the old upstream: forget it.
  await removeDataFile(ctx.config.data_directory, SAVED_CONNINFO);
  await writeAutoConfSettings(ctx.config.data_directory, {
    primary_conninfo: primaryConninfoFor(upstream.conninfo, ctx.config.node_name, ctx.config.replication_user),
    primary_slot_name: ctx.config.use_replication_slots ? slotName(ctx.config.node_id) : undefined,
  });
  await writeStandbySignal(ctx.config.data_directory);
}

function resolveUpstream(loaded: LoadedCluster, upstreamNodeId: number | undefined): NodeRecord {
  const id = upstreamNodeId ?? loaded.snapshot.cluster.primary_node_id;
  if (id === null) throw new PgvigilError('BAD_CONFIG', 'the cluster has no primary; supply --upstream-node-id');
  const node = findNode(loaded, id);
  if (!node) throw new PgvigilError('BAD_CONFIG', `upstream node ${id} is not registered`);
  return node;
}

export async function follow(ctx: ActionContext, opts: { upstreamNodeId: number | undefined }): Promise<ActionResult> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  await guardTerm(ctx, 'follow');
  const loaded = await requireCluster(ctx);
  const term = currentTerm(ctx, loaded.snapshot.cluster);
  const upstream = resolveUpstream(loaded, opts.upstreamNodeId);
  if (upstream.node_id === c.node_id) throw new PgvigilError('BAD_CONFIG', 'a node cannot follow itself');
  const nodes = loaded.snapshot.nodes;
  const probe = await probeLocalServer({ conninfo: c.conninfo, dataDir: c.data_directory, timeoutMs: 5000, nodes });
  if (probe.accepting_connections && probe.in_recovery === false) {
    throw new PgvigilError('FOLLOW_FAIL', 'this node is a primary and cannot follow another node', { hint: 'use "node rejoin" to rejoin a former primary' });
  }
  const before = await attachment(ctx, upstream, nodes, probe);
  if (before.attached) {
    ctx.out.notice(`node ${c.node_id} is already streaming from node ${upstream.node_id}; nothing to do`);
    await updateOwnRecord(ctx, loaded, { type: 'standby', upstream_node_id: upstream.node_id });
    await recordEvent(ctx, 'standby_follow', true, `node ${c.node_id} was already following node ${upstream.node_id}`, term);
    return { changed: false, message: 'already following' };
  }
  ctx.out.notice(`attaching node ${c.node_id} to upstream node ${upstream.node_id}`);
  await ensureSlot(ctx, upstream).catch((e: unknown) => ctx.out.warning(`unable to create replication slot on node ${upstream.node_id}: ${(e as Error).message}`));
  await configureStandby(ctx, upstream);
  const svc = service(ctx);
  // primary_conninfo is reloadable since PostgreSQL 13: a running standby needs no restart.
  if (probe.postmaster_running) await svc.reload();
  else await svc.start(c.primary_follow_timeout);
  const after = await waitForAttachment(ctx, upstream, nodes, c.primary_follow_timeout);
  if (!after.attached) {
    await recordEvent(ctx, 'standby_follow', false, `node ${c.node_id} did not follow node ${upstream.node_id} within ${c.primary_follow_timeout} s: ${after.saw}`, term);
    throw new PgvigilError('FOLLOW_FAIL', `node ${c.node_id} did not follow node ${upstream.node_id} within primary_follow_timeout (${c.primary_follow_timeout} s): ${after.saw}`);
  }
  await updateOwnRecord(ctx, loaded, { type: 'standby', upstream_node_id: upstream.node_id });
  ctx.out.notice('STANDBY FOLLOW successful');
  ctx.out.detail(`standby attached to upstream node "${upstream.node_name}" (ID: ${upstream.node_id})`);
  await recordEvent(ctx, 'standby_follow', true, `standby attached to upstream node "${upstream.node_name}" (ID: ${upstream.node_id})`, term);
  return { changed: true, message: `following node ${upstream.node_id}` };
}

/** Files pg_rewind would overwrite with the source's copies but that belong to this node. */
const PRESERVED_FILES = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];

type RejoinOptions = { upstreamNodeId: number | undefined; forceRewind: boolean; dryRun?: boolean };

/**
 * `node rejoin`, one at a time on the host (agent/actions/host-lock.ts): a second rejoin waits for
 * the first and then finds the node attached ("nothing to do") rather than stopping it again.
 */
export async function rejoin(ctx: ActionContext, opts: RejoinOptions): Promise<ActionResult> {
  const c = ctx.config;
  if (!c.agent_state_dir || opts.dryRun) return rejoinNow(ctx, opts, async () => {});
  const dir = c.agent_state_dir;
  // Starts by anyone else are held off from before the server is found stopped until this rejoin
  // starts it itself (agent/actions/start-block.ts).
  return withHostLock(dir, 'rejoin', c.node_rejoin_timeout * 1000 + 120_000, ctx.out, () => withStartBlock(dir, ctx.out, (lift) => rejoinNow(ctx, opts, lift)));
}

/** `liftStartBlock` is called right before the server is started (agent/actions/start-block.ts). */
async function rejoinNow(ctx: ActionContext, opts: RejoinOptions, liftStartBlock: () => Promise<void>): Promise<ActionResult> {
  const c = ctx.config;
  const out = ctx.out;
  await requireDataDirectory(c.data_directory);
  await guardTerm(ctx, 'rejoin');
  const loaded = await requireCluster(ctx);
  const term = currentTerm(ctx, loaded.snapshot.cluster);
  const upstream = resolveUpstream(loaded, opts.upstreamNodeId);
  if (upstream.node_id === c.node_id) throw new PgvigilError('REJOIN_FAIL', 'this node is the cluster primary; there is nothing to rejoin', { hint: 'supply --upstream-node-id of another node' });
  const nodes = loaded.snapshot.nodes;
  // A dead postmaster's lock file (a zombie, or a pid another process now has) would read as
  // "running", and PostgreSQL refuses to start on it (single-user crash recovery, the final start).
  const dead = await removeStaleLockFile(c.data_directory);
  if (dead !== null) out.info(`removed the postmaster.pid of the dead postmaster (pid ${dead})`);
  const pm = await postmasterStatus(c.data_directory);
  if (pm.running) {
    const probe = await probeLocalServer({ conninfo: c.conninfo, dataDir: c.data_directory, timeoutMs: 5000, nodes });
    let before = await attachment(ctx, upstream, nodes, probe);
    // A receiver that streams from the upstream may be switching timelines right now: give it a
    // moment before stopping a server that may be the primary's synchronous standby.
    if (!before.attached && before.streaming) before = await waitForAttachment(ctx, upstream, nodes, Math.min(10, c.node_rejoin_timeout));
    if (!before.attached && before.streaming === 'unread') {
      // A stop would not help: the rewind and the restart need the upstream this could not read.
      throw new PgvigilError('REJOIN_FAIL', `node ${c.node_id} is running and ${before.saw}; leaving the running standby alone`, {
        hint: 'check that this host can connect to the upstream with its conninfo, then rejoin again',
      });
    }
    if (before.attached) {
      out.notice(`node ${c.node_id} is already a standby streaming from node ${upstream.node_id}; nothing to do`);
      await removeFence(c.data_directory);
      await recordRejoined(ctx, loaded, upstream.node_id);
      return { changed: false, message: 'already rejoined' };
    }
    // Only a server that may take writes is refused: one that answers and is not (known to be) in
    // recovery, or the node the cluster record names as its primary.
    if ((probe.accepting_connections && probe.in_recovery !== true) || loaded.snapshot.cluster.primary_node_id === c.node_id) {
      throw new PgvigilError('REJOIN_FAIL', 'the local server is running; "node rejoin" needs it stopped', {
        hint: 'fence or stop the node first (a running former primary must never be rejoined in place)',
      });
    }
    // A read-only server (a fenced former primary held as a standby and started again, or a standby
    // attached elsewhere), or one that accepts no connections at all (hung, or still starting up),
    // takes no writes, so stopping it loses nothing: refusing would leave an automatic rejoin failing
    // forever on a node that a restart brought back (docs/controller.md).
    out.notice(
      probe.accepting_connections
        ? `the local server is running in recovery, not following node ${upstream.node_id} (${before.saw}): stopping it to rejoin`
        : `the local server is running but accepts no connections (${probe.error ?? 'no answer'}): it takes no writes; stopping it to rejoin`,
    );
    await service(ctx).stop('fast');
  }
  // Does this node's history diverge from the upstream's? pg_rewind --dry-run answers exactly that.
  const source = formatConninfo({ ...parseConninfo(upstream.conninfo), dbname: parseConninfo(upstream.conninfo).dbname ?? 'postgres' });
  // pg_rewind reads the source's timeline from its control file, which a fresh promotion updates
  // only at the next checkpoint: without one, a diverged node looks "on the same timeline".
  await withSession(upstream.conninfo, sqlTimeoutMs(ctx), async (s) => void (await s.query('CHECKPOINT'))).catch((e: unknown) =>
    out.warning(`unable to run CHECKPOINT on node ${upstream.node_id}: ${(e as Error).message}`),
  );
  // pg_rewind completes an unclean shutdown (a crashed former primary) with single-user crash
  // recovery, which refuses to run while standby.signal exists, and fencing writes standby.signal:
  // keep it aside while pg_rewind runs (the server is stopped; the fence marker stays).
  const signalAside = await removeDataFile(c.data_directory, 'standby.signal');
  let diverged: boolean;
  try {
    // pg_rewind --dry-run does not run that crash recovery (it only says it would) and then fails
    // with "target server must be shut down cleanly": finish it first, as pg_rewind would.
    const state = (await controlData(c.pg_bindir, c.data_directory).catch(() => ({}) as Record<string, string>))['Database cluster state'] ?? '';
    if (state !== '' && state !== 'shut down' && state !== 'shut down in recovery') {
      out.notice(`the server was not shut down cleanly (${state}): completing crash recovery in single-user mode`);
      const single = await runPgBinary(c.pg_bindir, c.data_directory, 'postgres', ['--single', '-F', '-D', c.data_directory, 'template1'], 600_000);
      if (single.code !== 0) {
        throw new PgvigilError('REJOIN_FAIL', 'crash recovery of this node in single-user mode failed', { detail: single.stderr.trim().slice(-2000) });
      }
    }
    const check = await runPgBinary(c.pg_bindir, c.data_directory, 'pg_rewind', ['-D', c.data_directory, `--source-server=${source}`, '--dry-run', '--progress'], 600_000);
    const text = `${check.stdout}\n${check.stderr}`;
    diverged = /servers diverged/.test(text) && !/no rewind required/.test(text);
    if (check.code !== 0) {
      await recordEvent(ctx, 'node_rejoin', false, `pg_rewind --dry-run failed: ${check.stderr.trim().slice(0, 500)}`, term);
      throw new PgvigilError('REJOIN_FAIL', 'unable to compare this node with the upstream (pg_rewind --dry-run failed)', { detail: check.stderr.trim() });
    }
    if (diverged) {
      const where = /servers diverged at WAL location (\S+) on timeline (\d+)/.exec(text);
      if (!opts.forceRewind) {
        await recordEvent(ctx, 'node_rejoin', false, 'node has diverged from the upstream and --force-rewind was not given', term);
        throw new PgvigilError('REJOIN_FAIL', `this node has diverged from upstream node ${upstream.node_id}${where ? ` at ${where[1]} on timeline ${where[2]}` : ''}`, {
          hint: 'use --force-rewind to rewind it with pg_rewind (local changes after the divergence are discarded)',
        });
      }
      out.notice(`executing pg_rewind against node ${upstream.node_id}`);
      const saved = await mkdtemp(join(tmpdir(), 'pgvigil-rejoin-'));
      try {
        for (const f of PRESERVED_FILES) if (await exists(join(c.data_directory, f))) await copyFile(join(c.data_directory, f), join(saved, f));
        const r = await runPgBinary(c.pg_bindir, c.data_directory, 'pg_rewind', ['-D', c.data_directory, `--source-server=${source}`], 3_600_000);
        if (r.code !== 0) {
          await recordEvent(ctx, 'node_rejoin', false, `pg_rewind failed: ${r.stderr.trim().slice(0, 500)}`, term);
          throw new PgvigilError('REJOIN_FAIL', 'pg_rewind failed', { detail: r.stderr.trim() });
        }
        for (const f of PRESERVED_FILES) {
          if (await exists(join(saved, f))) {
            const content = await readDataFileFrom(saved, f);
            await writeDataFile(c.data_directory, f, content);
          }
        }
      } finally {
        await rm(saved, { recursive: true, force: true });
      }
      out.notice('pg_rewind execution completed');
    } else {
      out.info(`node ${c.node_id} has not diverged from node ${upstream.node_id}; no rewind required`);
    }
  } finally {
    if (signalAside) await writeDataFile(c.data_directory, 'standby.signal', '');
  }
  await ensureSlot(ctx, upstream).catch((e: unknown) => out.warning(`unable to create replication slot on node ${upstream.node_id}: ${(e as Error).message}`));
  await configureStandby(ctx, upstream);
  await removeFence(c.data_directory);
  await liftStartBlock();
  await service(ctx).start(c.node_rejoin_timeout);
  const after = await waitForAttachment(ctx, upstream, nodes, c.node_rejoin_timeout);
  if (!after.attached) {
    await recordEvent(ctx, 'node_rejoin', false, `node did not follow node ${upstream.node_id} within node_rejoin_timeout: ${after.saw}`, term);
    throw new PgvigilError('REJOIN_FAIL', `node ${c.node_id} did not follow node ${upstream.node_id} within node_rejoin_timeout (${c.node_rejoin_timeout} s): ${after.saw}`);
  }
  await recordRejoined(ctx, loaded, upstream.node_id);
  out.notice('NODE REJOIN successful');
  out.detail(`node ${c.node_id} is now attached to node ${upstream.node_id}`);
  await recordEvent(ctx, 'node_rejoin', true, `node ${c.node_id} is now attached to node ${upstream.node_id}${diverged ? ' (after pg_rewind)' : ''}`, term);
  return { changed: true, message: `rejoined as standby of ${upstream.node_id}` };
}

async function readDataFileFrom(dir: string, name: string): Promise<string> {
  return (await readDataFile(dir, name)) ?? '';
}

// ---------------------------------------------------------------------------------------------
// fence / unfence / demote

/**
 * Stops the local server and holds it down: fence marker + standby.signal, so nothing starts it
 * as a primary again. Shared by the `fence` action and the daemon's self-fencing.
 */
export async function applyFence(ctx: Pick<ActionContext, 'config'>, reason: 'fence' | 'lease_lost' | 'superseded' | 'demote', term: number, extra: { final_lsn?: string } = {}): Promise<boolean> {
  const c = ctx.config;
  const existing = await readFence(c.data_directory);
  const wasRunning = (await postmasterStatus(c.data_directory)).running;
  // Write the marker first: if the stop is interrupted, a restart still comes up read-only.
  const hadSignal = await hasStandbySignal(c.data_directory);
  if (!existing) {
    await writeFence(c.data_directory, { term, at: Date.now(), reason, created_standby_signal: !hadSignal, ...extra });
  } else if (extra.final_lsn) {
    await writeFence(c.data_directory, { ...existing, ...extra });
  }
  if (!hadSignal) await writeStandbySignal(c.data_directory);
  // Losing the lease is a race against the controller's expiry: do not wait long for sessions.
  await new LocalService(c).stop('fast', reason === 'lease_lost' || reason === 'superseded' ? Math.min(c.shutdown_check_timeout, 5) : c.shutdown_check_timeout);
  return !existing || wasRunning;
}

export async function fence(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  const loaded = await guardTerm(ctx, 'fence');
  const term = currentTerm(ctx, loaded?.snapshot.cluster);
  const changed = await applyFence(ctx, 'fence', term);
  if (!changed) {
    ctx.out.notice(`node ${c.node_id} is already fenced; nothing to do`);
    return { changed: false, message: 'already fenced' };
  }
  if (loaded && findNode(loaded, c.node_id)) await updateOwnRecord(ctx, loaded, { fenced: true });
  ctx.out.notice(`node ${c.node_id} fenced: PostgreSQL stopped and held down until rejoin`);
  await recordEvent(ctx, 'fence_applied', true, `node ${c.node_id} fenced by action (term ${term})`, term);
  return { changed: true, message: 'fenced' };
}

export async function unfence(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  await guardTerm(ctx, 'unfence');
  const loaded = await requireCluster(ctx);
  const cluster = loaded.snapshot.cluster;
  if (cluster.primary_node_id !== c.node_id) {
    throw new PgvigilError('BAD_CONFIG', `refusing "unfence": node ${cluster.primary_node_id ?? 'none'} is the cluster's primary at term ${cluster.term}, not node ${c.node_id}`, {
      detail: 'a fenced former primary comes back only as a standby ("node rejoin")',
    });
  }
  const marker = await readFence(c.data_directory);
  const running = (await postmasterStatus(c.data_directory)).running;
  if (!marker && running) {
    const role = await localRole(ctx);
    if (!role.inRecovery) {
      ctx.out.notice(`node ${c.node_id} is not fenced and runs as primary; nothing to do`);
      return { changed: false, message: 'not fenced' };
    }
  }
  if (running) await service(ctx).stop('fast');
  if (marker?.created_standby_signal !== false) await removeStandbySignal(c.data_directory);
  await removeFence(c.data_directory);
  await service(ctx).start(c.promote_check_timeout);
  const role = await localRole(ctx);
  if (role.inRecovery) throw new PgvigilError('LOCAL_COMMAND', 'the server started but is in recovery (standby.signal present?)');
  await updateOwnRecord(ctx, loaded, { type: 'primary', upstream_node_id: null, fenced: false });
  ctx.out.notice(`node ${c.node_id} unfenced and running as primary (term ${cluster.term})`);
  await recordEvent(ctx, 'fence_lifted', true, `node ${c.node_id} unfenced and started as primary`, cluster.term);
  return { changed: true, message: 'unfenced' };
}

export async function demote(ctx: ActionContext): Promise<ActionResult & { finalLsn: string }> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  const loaded = await guardTerm(ctx, 'demote');
  const term = currentTerm(ctx, loaded?.snapshot.cluster);
  const running = (await postmasterStatus(c.data_directory)).running;
  let changed = false;
  if (running) {
    const role = await localRole(ctx);
    if (role.inRecovery) throw new PgvigilError('BAD_CONFIG', 'this node is a standby; only a primary can be demoted');
    ctx.out.info('running a checkpoint before the shutdown');
    await withSession(c.conninfo, c.shutdown_check_timeout * 1000, async (s) => void (await s.query('CHECKPOINT')));
    await applyFence(ctx, 'demote', term);
    changed = true;
  } else if (!(await readFence(c.data_directory))) {
    await applyFence(ctx, 'demote', term);
  }
  const cd = await controlData(c.pg_bindir, c.data_directory);
  const state = cd['Database cluster state'] ?? 'unknown';
  const finalLsn = cd['Latest checkpoint location'] ?? '';
  if (state !== 'shut down') {
    throw new PgvigilError('SWITCHOVER_FAIL', `the server was not shut down cleanly (state: "${state}")`, { detail: 'the final LSN is not reliable' });
  }
  const marker = await readFence(c.data_directory);
  if (marker) await writeFence(c.data_directory, { ...marker, final_lsn: finalLsn });
  ctx.out.notice(changed ? `node ${c.node_id} demoted: clean shutdown at ${finalLsn}` : `node ${c.node_id} is already shut down; nothing to do`);
  ctx.out.info(`final LSN is ${finalLsn} (timeline ${cd["Latest checkpoint's TimeLineID"] ?? '?'})`);
  ctx.out.print(`final_lsn=${finalLsn}`);
  if (changed) await recordEvent(ctx, 'demote', true, `node ${c.node_id} shut down cleanly; final LSN ${finalLsn}`, term);
  return { changed, message: `final LSN ${finalLsn}`, finalLsn };
}

// ---------------------------------------------------------------------------------------------
// WAL receiver

export async function disconnectWalReceiver(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  const loaded = await guardTerm(ctx, 'disconnect-wal-receiver');
  const term = currentTerm(ctx, loaded?.snapshot.cluster);
  const current = (await readAutoConfSetting(c.data_directory, 'primary_conninfo')) ?? '';
  if (current === '') {
    ctx.out.notice('WAL receiver is already disconnected; nothing to do');
    return { changed: false, message: 'already disconnected' };
  }
  await writeDataFile(c.data_directory, SAVED_CONNINFO, current);
  await writeAutoConfSettings(c.data_directory, { primary_conninfo: '' });
  if ((await postmasterStatus(c.data_directory)).running) await service(ctx).reload();
  const deadline = Date.now() + c.wal_receive_check_timeout * 1000;
  for (;;) {
    const probe = await probeLocalServer({ conninfo: c.conninfo, dataDir: c.data_directory, timeoutMs: 5000, nodes: [] });
    if (!probe.wal_receiver_status) break;
    if (Date.now() > deadline) throw new PgvigilError('LOCAL_COMMAND', `WAL receiver still running after ${c.wal_receive_check_timeout} s`);
    await sleep(200);
  }
  ctx.out.notice('WAL receiver disconnected');
  await recordEvent(ctx, 'wal_receiver_disconnected', true, `node ${c.node_id}: WAL receiver disconnected`, term);
  return { changed: true, message: 'disconnected' };
}

export async function reconnectWalReceiver(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  await requireDataDirectory(c.data_directory);
  const loaded = await guardTerm(ctx, 'reconnect-wal-receiver');
  const term = currentTerm(ctx, loaded?.snapshot.cluster);
  const current = (await readAutoConfSetting(c.data_directory, 'primary_conninfo')) ?? '';
  if (current !== '') {
    ctx.out.notice('WAL receiver is configured; nothing to do');
    return { changed: false, message: 'already connected' };
  }
  let saved = (await readDataFile(c.data_directory, SAVED_CONNINFO))?.trim();
  if (!saved) {
    const me = findNode(loaded, c.node_id);
    const up = me?.upstream_node_id ? findNode(loaded, me.upstream_node_id) : undefined;
    if (!up) throw new PgvigilError('BAD_CONFIG', 'no saved primary_conninfo and no registered upstream to reconnect to');
    saved = primaryConninfoFor(up.conninfo, c.node_name, c.replication_user);
  }
  await writeAutoConfSettings(c.data_directory, { primary_conninfo: saved });
  if ((await postmasterStatus(c.data_directory)).running) await service(ctx).reload();
  const { host, port } = hostPort(saved);
  const deadline = Date.now() + c.wal_receive_check_timeout * 1000;
  for (;;) {
    const probe = await probeLocalServer({ conninfo: c.conninfo, dataDir: c.data_directory, timeoutMs: 5000, nodes: [] });
    if (probe.wal_receiver_status === 'streaming' && probe.wal_receiver_sender?.port === port) break;
    if (Date.now() > deadline) throw new PgvigilError('LOCAL_COMMAND', `WAL receiver did not reconnect to ${host}:${port} within ${c.wal_receive_check_timeout} s`);
    await sleep(200);
  }
  ctx.out.notice('WAL receiver reconnected');
  await recordEvent(ctx, 'wal_receiver_reconnected', true, `node ${c.node_id}: WAL receiver reconnected`, term);
  return { changed: true, message: 'reconnected' };
}
