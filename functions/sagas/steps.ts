/**
 * Building blocks the sagas share: running an agent action on a node through SSM, fencing a node
 * (SSM, then the cloud's STONITH when `fence_mode` says so), waiting for a node's heartbeat to show
 * something, and the promote → verify → Elastic IP → follow steps failover and switchover share.
 * Each is idempotent: running it again after a crash has the effect of running it once.
 */
import { buildContext } from '../../core/engine/index.js';
import { selectCandidate } from '../../core/engine/candidates.js';
import { primaryServes } from '../../core/engine/topology.js';
import { PgvigilError } from '../../core/errors.js';
import type { Heartbeat, NodeRecord, Operation } from '../../core/model.js';
import { promoteNotStarted } from '../../core/host-actions.js';
import type { HostAction, HostCommandResult } from '../../core/ports.js';
import { recordEvent, type ControllerDeps } from '../controller.js';
import { dataLossOfPromotion } from '../data-loss.js';
import { pointRoutesAt } from './routes.js';
import type { SagaState, StepResult } from './runner.js';

export function nodeOf(state: SagaState, nodeId: number | null): NodeRecord {
  const node = nodeId === null ? undefined : state.snapshot.nodes.find((n) => n.node_id === nodeId);
  if (!node) throw new PgvigilError('NOT_FOUND', `node ${nodeId ?? '(none)'} is not registered in cluster "${state.clusterId}"`);
  return node;
}

export function heartbeatOf(state: SagaState, nodeId: number): Heartbeat | null {
  return latestHeartbeat(state.snapshot.heartbeats, nodeId);
}

export function latestHeartbeat(heartbeats: readonly Heartbeat[], nodeId: number): Heartbeat | null {
  let best: Heartbeat | null = null;
  for (const hb of heartbeats) if (hb.node_id === nodeId && (best === null || hb.seq > best.seq)) best = hb;
  return best;
}

/** Runs an agent action on a node and waits for its result; a node without an instance is Undeliverable. */
export async function runOnNode(
  state: SagaState,
  node: NodeRecord,
  action: Omit<HostAction, 'clusterId' | 'nodeId' | 'term' | 'configFile'>,
  timeoutMs: number,
  term = state.op.term,
): Promise<HostCommandResult & { commandId: string | null }> {
  if (!node.instance_id) {
    return { status: 'Undeliverable', exitCode: null, output: `node ${node.node_id} has no instance_id registered`, commandId: null };
  }
  const full = hostAction(state, node, action, term);
  const commandId = await state.deps.hosts.send(node.instance_id, full);
  const result = await state.deps.hosts.wait(commandId, node.instance_id, timeoutMs);
  logHostResult(state, full, commandId, result);
  return { ...result, commandId };
}

function hostAction(state: SagaState, node: NodeRecord, action: Omit<HostAction, 'clusterId' | 'nodeId' | 'term' | 'configFile'>, term: number): HostAction {
  return {
    ...action,
    clusterId: state.clusterId,
    nodeId: node.node_id,
    term,
    ...(node.config_file ? { configFile: node.config_file } : {}),
  };
}

function logHostResult(state: SagaState, action: HostAction, commandId: string, result: HostCommandResult): void {
  state.deps.log.info('host action finished', {
    cluster_id: state.clusterId,
    node_id: action.nodeId,
    action: action.action,
    term: action.term,
    command_id: commandId,
    status: result.status,
    exit_code: result.exitCode,
  });
}

export function describeResult(r: HostCommandResult): string {
  const output = r.output.trim().split('\n').slice(-3).join(' | ');
  return `SSM status ${r.status}${r.exitCode === null ? '' : `, exit code ${r.exitCode}`}${output ? `: ${output}` : ''}`;
}

export interface FenceOutcome {
  confirmed: boolean;
  method: 'ssm' | 'stop-instance' | 'unconfirmed' | 'none';
  detail: string;
}

/**
 * Fences a node (`fence_mode`, docs/configuration.md): SSM `fence` with a bounded wait; with
 * `ssm-then-stop-instance`, EC2 StopInstances when SSM did not confirm. `none` sends nothing.
 */
export async function fenceNode(state: SagaState, node: NodeRecord, waitMs = state.deps.timings.fenceWaitMs): Promise<FenceOutcome> {
  if (state.snapshot.cluster.settings.fence_mode === 'none') return FENCE_NONE;
  return collectFence(state, node, await sendFence(state, node), waitMs);
}

const FENCE_NONE: FenceOutcome = { confirmed: false, method: 'none', detail: 'fence_mode=none: no fencing action taken' };

/** A fence sent through SSM: its command id, or why it could not be sent. */
export type SentFence = { commandId: string } | { undeliverable: string };

/** The first half of {@link fenceNode}: sends the SSM `fence` without waiting for its answer. */
export async function sendFence(state: SagaState, node: NodeRecord): Promise<SentFence> {
  if (!node.instance_id) return { undeliverable: `node ${node.node_id} has no instance_id registered` };
  try {
    return { commandId: await state.deps.hosts.send(node.instance_id, hostAction(state, node, { action: 'fence' }, state.op.term)) };
  } catch (error) {
    return { undeliverable: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The second half of {@link fenceNode}: waits up to `waitMs` for the sent fence and, when SSM did not
 * confirm it and `fence_mode` says so, stops the instance.
 */
export async function collectFence(state: SagaState, node: NodeRecord, sent: SentFence, waitMs: number): Promise<FenceOutcome> {
  const { settings } = state.snapshot.cluster;
  if (settings.fence_mode === 'none') return FENCE_NONE;
  let ssm: HostCommandResult;
  if ('undeliverable' in sent || !node.instance_id) {
    ssm = { status: 'Undeliverable', exitCode: null, output: 'undeliverable' in sent ? sent.undeliverable : `node ${node.node_id} has no instance_id registered` };
  } else {
    try {
      ssm = await state.deps.hosts.wait(sent.commandId, node.instance_id, Math.max(0, waitMs));
    } catch (error) {
      ssm = { status: 'Undeliverable', exitCode: null, output: error instanceof Error ? error.message : String(error) };
    }
    logHostResult(state, hostAction(state, node, { action: 'fence' }, state.op.term), sent.commandId, ssm);
  }
  if (ssm.status === 'Success') return { confirmed: true, method: 'ssm', detail: `the agent confirmed the fence (${describeResult(ssm)})` };
  if (settings.fence_mode === 'ssm-then-stop-instance' && node.instance_id) {
    await state.deps.fencer.stop(node.instance_id);
    return {
      confirmed: true,
      method: 'stop-instance',
      detail: `SSM did not confirm the fence (${describeResult(ssm)}); instance ${node.instance_id} stopped with EC2 StopInstances`,
    };
  }
  return { confirmed: false, method: 'unconfirmed', detail: `SSM did not confirm the fence (${describeResult(ssm)}); fence_mode=${settings.fence_mode}` };
}

/**
 * Records a node fenced and inactive; when the fence stopped its instance, since when: with
 * `auto_rejoin` the controller starts it again to rejoin it (docs/controller.md).
 */
export async function markFenced(state: SagaState, node: NodeRecord, outcome?: FenceOutcome): Promise<void> {
  const now = state.deps.clock.now();
  const stopped = outcome?.method === 'stop-instance' ? { instance_stopped_at: now } : {};
  await state.deps.store.putNode({ ...node, active: false, fenced: true, ...stopped, updated_at: now });
}

/** Polls the cluster until `predicate` holds for the node's latest heartbeat, or the bound passes. */
export async function waitForHeartbeat(
  deps: ControllerDeps,
  clusterId: string,
  nodeId: number,
  predicate: (hb: Heartbeat) => boolean,
  timeoutMs: number,
): Promise<Heartbeat | null> {
  const deadline = deps.clock.now() + timeoutMs;
  for (;;) {
    const loaded = await deps.store.load(clusterId);
    const hb = loaded ? latestHeartbeat(loaded.snapshot.heartbeats, nodeId) : null;
    if (hb && predicate(hb)) return hb;
    const left = deadline - deps.clock.now();
    if (left <= 0) return null;
    await deps.clock.sleep(Math.min(deps.timings.pollIntervalMs, left));
  }
}

export function isPromoted(hb: Heartbeat, oldTimeline: number | null): boolean {
  const s = hb.server;
  if (!s || s.in_recovery !== false || !s.postmaster_running) return false;
  return oldTimeline === null || (s.timeline !== null && s.timeline > oldTimeline);
}

export async function event(
  state: SagaState,
  name: Parameters<typeof recordEvent>[2]['event'],
  nodeId: number,
  successful: boolean,
  details: string,
  info?: Record<string, unknown>,
): Promise<void> {
  await recordEvent(state.deps, state.snapshot.cluster.settings, {
    cluster_id: state.clusterId,
    node_id: nodeId,
    event: name,
    successful,
    details,
    term: state.op.term,
    ...(info ? { info } : {}),
  });
}

export function promoteTimeoutMs(state: SagaState): number {
  return state.snapshot.cluster.settings.promote_check_timeout * 1000;
}

export function dataNumber(op: Operation, key: string): number | null {
  const v = op.data[key];
  return typeof v === 'number' ? v : null;
}

export function dataString(op: Operation, key: string): string | null {
  const v = op.data[key];
  return typeof v === 'string' ? v : null;
}


/**
 * SSM `promote --term` on the candidate, at most once per saga: the command id is persisted before
 * the wait, so a resumed saga waits for that command instead of sending another. A candidate
 * whose heartbeat already shows it promoted gets nothing. On a timeout it goes on to verification,
 * which decides from the heartbeat. A promote that failed goes to `onRefused` only when the
 * candidate said it refused before promoting anything (or SSM never delivered it); any other
 * failure may still end with the candidate promoted (`pg_promote()` was called and timed out, the
 * session broke, the command was cancelled while it ran), so it goes to `onUncertain` with the
 * candidate to be fenced: rolling back then restarted the old primary beside a candidate that went
 * on to promote (bench:peers under load, docs/controller.md "Switchover").
 */
export async function promoteStep(state: SagaState, next: string, onRefused: string, onUncertain: string = onRefused): Promise<StepResult> {
  const { op, deps } = state;
  const candidate = nodeOf(state, op.candidate_node_id);
  const oldTimeline = dataNumber(op, 'old_timeline');
  const hb = heartbeatOf(state, candidate.node_id);
  if (hb && isPromoted(hb, oldTimeline)) return { next };
  if (!candidate.instance_id) {
    return { next: onRefused, data: { abort_reason: `candidate node ${candidate.node_id} has no instance_id: cannot send promote` } };
  }
  const cluster = state.snapshot.cluster;
  if (cluster.term !== op.term || cluster.operation?.id !== op.id) {
    // A saga taken over after someone else moved the term on must not promote for the old term.
    return { next: onRefused, data: { abort_reason: `the cluster is at term ${cluster.term}, this ${op.kind} claimed term ${op.term}: not promoting for a stale term` } };
  }
  let commandId = dataString(op, 'promote_command_id');
  if (commandId === null) {
    // Guard against a stale owner: the runner re-read the record just before this step and the
    // version matched, and the term in the command is the operation's, which agents check.
    commandId = await deps.hosts.send(candidate.instance_id, {
      action: 'promote',
      clusterId: state.clusterId,
      nodeId: candidate.node_id,
      term: op.term,
      ...(candidate.config_file ? { configFile: candidate.config_file } : {}),
    });
    const persisted = await deps.store.updateCluster(
      state.clusterId,
      state.version,
      { operation: { ...op, data: { ...op.data, promote_command_id: commandId } } },
      deps.clock.now(),
    );
    if (!persisted.ok) throw new PgvigilError('CONFLICT', 'lost the cluster record right after sending promote', { retryable: false });
    state.version += 1;
    state.op = { ...op, data: { ...op.data, promote_command_id: commandId } };
  }
  const result = await deps.hosts.wait(commandId, candidate.instance_id, promoteTimeoutMs(state));
  deps.log.info('promote finished', { cluster_id: state.clusterId, node_id: candidate.node_id, status: result.status, exit_code: result.exitCode });
  if (result.status === 'Failed' || result.status === 'Cancelled' || result.status === 'Undeliverable') {
    const failed = `promote on node ${candidate.node_id} failed: ${describeResult(result)}`;
    if (result.status === 'Undeliverable' || (result.status === 'Failed' && promoteNotStarted(result.output))) return { next: onRefused, data: { abort_reason: failed } };
    return { next: onUncertain, data: { abort_reason: `${failed}; the promotion may still complete there`, fence_candidate: true } };
  }
  const verified = result.status === 'Success' ? promotedTimelineOf(result.output) : null;
  return { next, data: { promote_status: result.status, ...(verified === null ? {} : { promote_verified_timeline: verified }) } };
}

/**
 * The timeline the agent's `promote` reports having verified: it exits 0 only once the server has
 * left recovery on a new timeline, and says which ("… promoted to primary (timeline 1 → 2)", or
 * "already primary (timeline 2)"). Null when the output says neither.
 */
export function promotedTimelineOf(output: string): number | null {
  const m = /promoted to primary \(timeline \d+ → (\d+)\)/.exec(output) ?? /is already primary \(timeline (\d+)\)/.exec(output);
  return m?.[1] === undefined ? null : Number(m[1]);
}

/**
 * Waits until the candidate reports itself out of recovery on a new timeline; then it is the
 * primary. `records` writes the saga's own node-record changes of the promotion (the switchover
 * re-registers its old primary and siblings).
 */
export async function verifyPromotionStep(
  state: SagaState,
  next: string,
  onFailure: string,
  records?: (state: SagaState, now: number) => Promise<void>,
): Promise<StepResult> {
  const { op, deps } = state;
  const candidate = nodeOf(state, op.candidate_node_id);
  const oldTimeline = dataNumber(op, 'old_timeline');
  // The promote command's own answer: the agent verified the new timeline before exiting 0, so
  // there is no need to wait for its next heartbeat (up to a monitoring interval later).
  const agentTimeline = dataNumber(op, 'promote_verified_timeline');
  const agentVerified = agentTimeline !== null && (oldTimeline === null || agentTimeline > oldTimeline);
  const current = heartbeatOf(state, candidate.node_id);
  const hb =
    current && isPromoted(current, oldTimeline)
      ? current
      : agentVerified
        ? null
        : await waitForHeartbeat(deps, state.clusterId, candidate.node_id, (h) => isPromoted(h, oldTimeline), promoteTimeoutMs(state));
  if (!hb && !agentVerified) {
    return {
      next: onFailure,
      data: {
        abort_reason: `node ${candidate.node_id} did not report itself promoted (out of recovery on a timeline after ${oldTimeline ?? 'the old one'}) within promote_check_timeout=${state.snapshot.cluster.settings.promote_check_timeout}s`,
      },
    };
  }
  const timeline = hb?.server?.timeline ?? agentTimeline;
  const now = deps.clock.now();
  await deps.store.putNode({ ...candidate, type: 'primary', upstream_node_id: null, active: true, fenced: false, updated_at: now });
  // A witness's upstream is the primary (as `witness register` records it): it moves with it.
  for (const w of state.snapshot.nodes) {
    if (w.type === 'witness' && w.upstream_node_id !== null && w.upstream_node_id !== candidate.node_id) {
      await deps.store.putNode({ ...w, upstream_node_id: candidate.node_id, updated_at: now });
    }
  }
  await records?.(state, now);
  const loss = dataLossOfPromotion(op);
  const info = { ...(op.old_primary_node_id === null ? {} : { former_primary_node_id: op.old_primary_node_id }), ...loss?.info };
  await event(
    state,
    op.kind === 'failover' ? 'repmgrd_failover_promote' : 'standby_promote',
    candidate.node_id,
    true,
    `node ${candidate.node_id} promoted to primary of term ${op.term} (timeline ${timeline ?? '?'}${hb ? '' : ', verified by the promote command'})${loss ? `; ${loss.sentence}` : ''}`,
    Object.keys(info).length > 0 ? info : undefined,
  );
  return { next, data: { new_timeline: timeline, promoted_at: now }, change: { primary_node_id: candidate.node_id, lease_observation: null } };
}

/** Every route to the primary (Elastic IP, Route 53 record) to the new primary: see ./routes.ts. */
export async function moveVipStep(state: SagaState, next: string): Promise<StepResult> {
  await pointRoutesAt(state, nodeOf(state, state.op.candidate_node_id), { events: 'always' });
  return { next };
}

/**
 * Why a step that stops or rewinds `nodeId` toward `upstreamId` must not act now, or null when it
 * may: checked on the snapshot the runner re-read just before the step. The upstream must be the
 * live primary of the operation's term (a follow or rejoin toward a dead or superseded primary
 * would leave the node down for nothing), and a node whose server runs is never stopped when it is
 * the last eligible candidate or the only synchronous standby.
 */
export function destructiveStepBlocked(state: SagaState, nodeId: number, upstreamId: number, stops: boolean): string | null {
  const { cluster } = state.snapshot;
  if (cluster.term !== state.op.term) return `the cluster is at term ${cluster.term}, not at this operation's term ${state.op.term}`;
  if (cluster.primary_node_id !== upstreamId) return `node ${upstreamId} is no longer the primary (the record names ${cluster.primary_node_id === null ? 'none' : `node ${cluster.primary_node_id}`})`;
  const ctx = buildContext({ ...state.snapshot, cluster: { ...cluster, operation: null } }, state.deps.clock.now());
  const up = ctx.byId.get(upstreamId);
  if (!up || !primaryServes(up)) return `its upstream node ${upstreamId} is not a live primary right now (not fresh, not running, not accepting connections or in recovery)`;
  const target = ctx.byId.get(nodeId);
  if (!stops || !target?.server?.postmaster_running) return null;
  const selection = selectCandidate(ctx, up);
  const eligible = selection.assessments.filter((a) => a.eligible);
  if (eligible.length === 1 && eligible[0]?.node_id === nodeId) return `node ${nodeId} is running and is the last eligible candidate: stopping it would leave no standby to promote`;
  const ref = selection.reference;
  if (ref.synchronous && ref.sync_names.size === 1 && ref.sync_names.has(target.node.node_name)) {
    return `node ${nodeId} is running and is the only synchronous standby: stopping it would hold every commit on the primary`;
  }
  return null;
}

/** A fence sent without waiting for its answer, to be collected later (docs/controller.md, "The deferred fence"). */
export interface PendingFence {
  node_id: number;
  command_id: string | null;
  /** Why it could not be sent, when it was not. */
  undeliverable: string | null;
  /** Controller time it was sent. */
  sent_at: number;
}

/**
 * The fences `op` still has to collect: `data.pending_fences`, or the single deferred fence an
 * operation claimed by an earlier controller version recorded (`fence_deferred` …) and has not
 * collected yet.
 */
export function pendingFencesOf(op: Operation): PendingFence[] {
  const listed = op.data.pending_fences;
  if (Array.isArray(listed)) return listed.filter((f): f is PendingFence => typeof f === 'object' && f !== null && typeof (f as PendingFence).node_id === 'number');
  if (op.data.fence_deferred !== true || typeof op.data.fence_method === 'string' || op.old_primary_node_id === null) return [];
  return [
    {
      node_id: op.old_primary_node_id,
      command_id: typeof op.data.fence_command_id === 'string' ? op.data.fence_command_id : null,
      undeliverable: typeof op.data.fence_command_id === 'string' ? null : String(op.data.fence_undeliverable ?? 'not sent'),
      sent_at: dataNumber(op, 'fence_sent_at') ?? op.started_at,
    },
  ];
}

/**
 * Collects pending fences in parallel: each waits for SSM until `fenceWaitMs` after it was sent
 * (not at all with `now`), the instance is stopped when SSM did not confirm (fence_mode), and
 * `fence_applied` says how. Returns whether every fence was confirmed.
 */
export async function collectPendingFences(state: SagaState, fences: readonly PendingFence[], now = false): Promise<boolean> {
  const { deps } = state;
  const outcomes = await Promise.all(
    fences.map(async (f) => {
      const node = state.snapshot.nodes.find((n) => n.node_id === f.node_id);
      if (!node) return true;
      const sent: SentFence = f.command_id !== null ? { commandId: f.command_id } : { undeliverable: f.undeliverable ?? 'not sent' };
      const waitMs = now ? 0 : deps.timings.fenceWaitMs - (deps.clock.now() - f.sent_at);
      const outcome = await collectFence(state, node, sent, waitMs);
      if (outcome.method === 'stop-instance') await markFenced(state, node, outcome);
      await event(state, 'fence_applied', node.node_id, outcome.confirmed, `${outcome.method}: ${outcome.detail} (sent before the promotion: the old primary's lease had expired)`);
      return outcome.confirmed;
    }),
  );
  return outcomes.every(Boolean);
}

/**
 * Fences the candidate of a round that ends after its promote step was reached without the
 * promotion being confirmed: a promote may still land there, and a node that may become a second
 * primary is always fenced (the only fence of a node other than the old primary that does not wait
 * for a live upstream: two writable servers are worse than none). Marks it fenced and inactive.
 * Returns whether the fence is confirmed (SSM, or the instance stopped).
 */
export async function fenceCandidate(state: SagaState): Promise<boolean> {
  const { op } = state;
  const candidate = nodeOf(state, op.candidate_node_id);
  const outcome = await fenceNode(state, candidate);
  await markFenced(state, candidate, outcome);
  await event(
    state,
    'fence_applied',
    candidate.node_id,
    outcome.confirmed,
    `${outcome.method}: ${outcome.detail} (the ${op.kind}'s candidate: a promote may have reached it, and the round ended without confirming it)`,
  );
  return outcome.confirmed;
}
