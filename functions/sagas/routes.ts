/**
 * The routes to the primary as the sagas move them: every route the cluster's settings configure
 * (core/routes.ts — an Elastic IP, a Route 53 record, or both) pointed at a node, or taken away
 * from it, through one call, so no saga step branches on which routes a cluster has.
 *
 * Each route is attempted even when another fails; a failure is thrown afterwards, so the step is
 * retried (moving a route is idempotent) and, when it keeps failing, skipped by the saga's giveUp.
 */
import type { ClusterSnapshot, NodeRecord } from '../../core/model.js';
import { describeRoute, normalizeRecordName, primaryRoutes, type PrimaryRoute } from '../../core/routes.js';
import { recordEvent, type ControllerDeps } from '../controller.js';
import type { SagaState } from './runner.js';

export interface RoutesOptions {
  /** `always`: a `vip_moved` event per route, also when it already led there; `when-moved`: only for a move. */
  events: 'always' | 'when-moved';
  /** Appended to each event's details (why the route moves). */
  why?: string;
}

/** Points every route of the cluster at `node`'s instance. */
export async function pointRoutesAt(state: SagaState, node: NodeRecord, options: RoutesOptions): Promise<void> {
  const failures: unknown[] = [];
  for (const route of primaryRoutes(state.snapshot.cluster.settings)) {
    try {
      const outcome = await pointRoute(state.deps, route, node);
      if (outcome.moved || options.events === 'always') {
        await recordEvent(state.deps, state.snapshot.cluster.settings, {
          cluster_id: state.clusterId,
          node_id: node.node_id,
          event: 'vip_moved',
          successful: outcome.ok,
          details: options.why ? `${outcome.detail} (${options.why})` : outcome.detail,
          term: state.op.term,
        });
      }
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * Takes the routes that can be taken away from everyone at once (the Elastic IP) away from `node`,
 * when they lead to it. A DNS record is left alone: clients that resolved it keep its address
 * until the TTL runs out whatever is done now, and removing it would have resolvers cache its
 * absence for the zone's negative TTL, far longer; it is moved when the new primary is known.
 */
export async function withdrawRoutesFrom(state: SagaState, node: NodeRecord): Promise<void> {
  const { vip } = state.deps;
  for (const route of primaryRoutes(state.snapshot.cluster.settings)) {
    if (route.kind !== 'elastic-ip' || !node.instance_id) continue;
    if ((await vip.current(route.allocationId)) === node.instance_id) await vip.detach(route.allocationId);
  }
}

interface RouteOutcome {
  ok: boolean;
  moved: boolean;
  detail: string;
}

async function pointRoute(deps: ControllerDeps, route: PrimaryRoute, node: NodeRecord): Promise<RouteOutcome> {
  const what = describeRoute(route);
  const instance = node.instance_id;
  if (!instance) return { ok: false, moved: false, detail: `node ${node.node_id} has no instance_id: ${what} not moved` };
  if (route.kind === 'elastic-ip') {
    if ((await deps.vip.current(route.allocationId)) === instance) {
      return { ok: true, moved: false, detail: `Elastic IP ${route.allocationId} associated with instance ${instance} (node ${node.node_id})` };
    }
    await deps.vip.moveTo(route.allocationId, instance);
    return { ok: true, moved: true, detail: `Elastic IP ${route.allocationId} associated with instance ${instance} (node ${node.node_id})` };
  }
  const name = normalizeRecordName(route.record.name);
  if (!deps.route53) return { ok: false, moved: false, detail: `${what} not moved: this controller has no Route 53 client` };
  if ((await deps.route53.current(route.record)) === instance) {
    return { ok: true, moved: false, detail: `Route 53 record ${name} already points at instance ${instance} (node ${node.node_id})` };
  }
  const change = await deps.route53.moveTo(route.record, instance);
  const sync = change.insync ? '' : '; Route 53 accepted the change but had not reported it in sync when the wait ended';
  return {
    ok: true,
    moved: true,
    detail: `Route 53 record ${name} points at ${change.address}, instance ${instance} (node ${node.node_id}), TTL ${route.record.ttl} s${sync}`,
  };
}

/**
 * The sweep's repair (`vip_elsewhere`, docs/controller.md "Stuck states"): every route that does not
 * lead to the term's serving primary is pointed at it again — a move that kept failing, or an owner
 * that lost its saga and moved a route late, can leave the Elastic IP or the record elsewhere.
 * Outside any saga: the caller has checked that no operation is in flight. Returns the events written.
 */
export async function repairRoutes(deps: ControllerDeps, snapshot: ClusterSnapshot, primary: NodeRecord): Promise<number> {
  const { cluster } = snapshot;
  const base = { cluster_id: cluster.cluster_id, term: cluster.term, node_id: primary.node_id };
  let events = 0;
  for (const route of primaryRoutes(cluster.settings)) {
    const before = await routeHolder(deps, route);
    if (before === undefined || before === primary.instance_id) continue;
    const outcome = await pointRoute(deps, route, primary);
    if (!outcome.moved) continue;
    const why = `${describeRoute(route)} led to ${before ?? 'no instance'}, not to instance ${primary.instance_id} of the serving primary node ${primary.node_id}`;
    await recordEvent(deps, cluster.settings, { ...base, event: 'stuck_state_recovery', successful: true, details: `vip_elsewhere: ${why}: moved back` });
    await recordEvent(deps, cluster.settings, { ...base, event: 'vip_moved', successful: true, details: `${outcome.detail}; moved again by the sweep` });
    events += 2;
  }
  return events;
}

/** The instance a route leads to now (null: none); undefined when this controller cannot tell. */
async function routeHolder(deps: ControllerDeps, route: PrimaryRoute): Promise<string | null | undefined> {
  if (route.kind === 'elastic-ip') return deps.vip.current(route.allocationId);
  return deps.route53 ? deps.route53.current(route.record) : undefined;
}
