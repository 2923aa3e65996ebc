/**
 * What the host-events function does with an AWS notice that an instance will be taken
 * (core/host-events.ts; docs/operations.md, "When AWS takes the host"): every node running on the
 * instance, in every cluster of the table, gets an event (published as every event is). A primary
 * is moved away first — the best standby not itself on a doomed instance, the switchover's dry-run
 * checks, then the switchover through its own entry point — unless the cluster is paused, runs with
 * failover=manual, or AWS closed the notice. A standby or witness is only recorded: `cluster show`
 * warns about it from that event.
 */
import { rankCandidates, selectCandidate } from '../core/engine/candidates.js';
import { buildContext } from '../core/engine/index.js';
import { currentHostEvents, HOST_EVENT_LOOKBACK_MS, HOST_EVENT_NAMES, type HostEventInfo, type HostEventNotice } from '../core/host-events.js';
import type { ClusterSnapshot, NodeRecord } from '../core/model.js';
import { errorText, recordEvent, type ControllerDeps, type Invocation } from './controller.js';
import { switchoverEntry } from './switchover-entry.js';

/** What became of one node on an instance of the notice. */
export interface HostEventOutcome {
  cluster_id: string;
  node_id: number;
  instance_id: string;
  /** switched_over | switchover_started (the evaluator carries it on) | checks_failed | switchover_failed | no_candidate | paused | manual | closed | noted | error (logged, not recorded) */
  action: string;
  message: string;
  candidate_node_id?: number;
}

export interface HostEventResult {
  aws_event: string;
  outcomes: HostEventOutcome[];
  /** Instances of the notice that no node of any cluster runs on. */
  unmatched: string[];
}

export async function handleHostEvent(deps: ControllerDeps, inv: Invocation, notice: HostEventNotice): Promise<HostEventResult> {
  const outcomes: HostEventOutcome[] = [];
  const matched = new Set<string>();
  for (const clusterId of await deps.store.listClusters()) {
    const loaded = await deps.store.load(clusterId);
    if (!loaded) continue;
    const affected = loaded.snapshot.nodes.filter((n) => n.instance_id !== null && notice.instance_ids.includes(n.instance_id));
    // Standbys first: a primary's switchover then chooses among standbys already known to be doomed.
    affected.sort((a, b) => Number(a.node_id === loaded.snapshot.cluster.primary_node_id) - Number(b.node_id === loaded.snapshot.cluster.primary_node_id));
    for (const node of affected) {
      matched.add(node.instance_id ?? '');
      try {
        outcomes.push(await actOn(deps, inv, notice, clusterId, node));
      } catch (error) {
        // One cluster's trouble does not keep the others from hearing of it.
        deps.log.error('could not act on the host event', { cluster_id: clusterId, node_id: node.node_id, aws_event: notice.aws_event, error: errorText(error) });
        outcomes.push({ cluster_id: clusterId, node_id: node.node_id, instance_id: node.instance_id ?? '', action: 'error', message: errorText(error) });
      }
    }
  }
  return { aws_event: notice.aws_event, outcomes, unmatched: notice.instance_ids.filter((id) => !matched.has(id)) };
}

function noticeText(notice: HostEventNotice, node: NodeRecord, role: string): string {
  const when = notice.deadline === null ? '' : ` for ${new Date(notice.deadline).toISOString()}`;
  const what = notice.closed ? `AWS closed ${notice.aws_event}${when}` : `AWS ${notice.event === 'spot_interruption' ? 'sent' : 'scheduled'} ${notice.aws_event}${when}`;
  return `${what} on instance ${node.instance_id} of ${role} node "${node.node_name}" (ID: ${node.node_id})`;
}

async function actOn(deps: ControllerDeps, inv: Invocation, notice: HostEventNotice, clusterId: string, node: NodeRecord): Promise<HostEventOutcome> {
  // Loaded again per node: a switchover of this cluster may have run since the listing.
  const loaded = await deps.store.load(clusterId);
  if (!loaded) throw new Error(`cluster "${clusterId}" is gone`);
  const { snapshot } = loaded;
  const { cluster } = snapshot;
  const isPrimary = cluster.primary_node_id === node.node_id;
  const role = isPrimary ? 'primary' : node.type;
  const instanceId = node.instance_id ?? '';
  const record = async (action: string, successful: boolean, message: string, candidate?: number): Promise<HostEventOutcome> => {
    const info: HostEventInfo = { aws_event: notice.aws_event, instance_id: instanceId, deadline: notice.deadline, closed: notice.closed, action, ...(candidate === undefined ? {} : { candidate_node_id: candidate }) };
    await recordEvent(deps, cluster.settings, {
      cluster_id: clusterId,
      node_id: node.node_id,
      event: notice.event,
      successful,
      details: `${noticeText(notice, node, role)}: ${message}`,
      term: cluster.term,
      info: { ...info },
    });
    return { cluster_id: clusterId, node_id: node.node_id, instance_id: instanceId, action, message, ...(candidate === undefined ? {} : { candidate_node_id: candidate }) };
  };
  if (notice.closed) return record('closed', true, 'nothing to do');
  if (!isPrimary) return record('noted', true, `no action; "cluster show" warns until then: move the ${role} to another instance`);
  if (cluster.paused) return record('paused', true, 'the cluster is paused, so pgvigil does not switch over: move the primary with "pgvigil standby switchover"');
  if (cluster.settings.failover === 'manual') return record('manual', true, 'failover=manual, so pgvigil does not switch over: move the primary with "pgvigil standby switchover"');

  const candidate = await candidateFor(deps, snapshot, node.node_id, notice);
  if (typeof candidate === 'string') return record('no_candidate', false, `no standby can take over, the primary stays: ${candidate}`);
  const request = { cluster_id: clusterId, candidate_node_id: candidate, siblings_follow: true };
  const dry = await switchoverEntry(deps, inv, { ...request, dry_run: true });
  if (!dry.ok) return record('checks_failed', false, `the primary stays: ${dry.message}`, candidate);
  await record('switchover_started', true, `the switchover checks passed: switching over to node ${candidate}`, candidate);
  const run = await switchoverEntry(deps, inv, { ...request, dry_run: false });
  if (run.ok) return { cluster_id: clusterId, node_id: node.node_id, instance_id: instanceId, action: 'switched_over', message: run.message, candidate_node_id: candidate };
  if (run.outcome === 'yielded') return { cluster_id: clusterId, node_id: node.node_id, instance_id: instanceId, action: 'switchover_started', message: run.message, candidate_node_id: candidate };
  return record('switchover_failed', false, `the switchover to node ${candidate} did not complete: ${run.message}`, candidate);
}

/**
 * The standby the engine would rank first for a failover (core/engine candidates), leaving out any
 * on an instance AWS means to take too: this notice's, or one still current in the recorded events.
 * A sentence saying why when there is none.
 */
async function candidateFor(deps: ControllerDeps, snapshot: ClusterSnapshot, primaryId: number, notice: HostEventNotice): Promise<number | string> {
  const now = deps.clock.now();
  const ctx = buildContext(snapshot, now);
  const primary = ctx.byId.get(primaryId);
  if (!primary) return `node ${primaryId} is not registered`;
  const recorded = await Promise.all(HOST_EVENT_NAMES.map((event) => deps.store.listEvents(snapshot.cluster.cluster_id, { event, sinceMs: now - HOST_EVENT_LOOKBACK_MS })));
  const doomed = new Set([...notice.instance_ids, ...currentHostEvents(snapshot, recorded.flat(), now).map((c) => c.info.instance_id)]);
  const selection = selectCandidate(ctx, primary);
  const eligible = new Set(selection.assessments.filter((a) => a.eligible).map((a) => a.node_id));
  const usable = ctx.views.filter((v) => eligible.has(v.node.node_id) && !(v.node.instance_id !== null && doomed.has(v.node.instance_id)));
  const best = rankCandidates(usable)[0];
  if (best) return best.node.node_id;
  const why = selection.assessments
    .filter((a) => ctx.byId.get(a.node_id)?.node.type !== 'witness')
    .map((a) => `node ${a.node_id} ${a.eligible ? `is on instance ${ctx.byId.get(a.node_id)?.node.instance_id} that AWS takes too` : a.reasons.join(', ')}`);
  return why.length > 0 ? why.join('; ') : 'the cluster has no standby';
}
