/**
 * `primary|standby|witness register|unregister`: the node records of docs/snapshot-format.md (repmgr's `nodes`
 * table), written without any password. The first `primary register` creates the cluster record,
 * with the cluster settings taken from this repmgr.conf.
 */
import { PgvigilError } from '../../core/errors.js';
import { clusterSettingsFromConfig } from '../../core/config/index.js';
import type { ClusterSettings, NodeRecord, NodeType } from '../../core/model.js';
import type { AgentConfig } from '../config.js';
import { parseConninfo, stripPassword } from '../pg/conninfo.js';
import { queryOne, withSession } from '../../adapters/pg-session.js';
import { findNode, guardTerm, recordEvent, requireCluster, sqlTimeoutMs, type ActionContext, type ActionResult } from './context.js';

/** The cluster settings the controller reads, from this node's repmgr.conf. */
export function clusterSettingsFrom(config: AgentConfig): ClusterSettings {
  return clusterSettingsFromConfig(config);
}

/** The replication slot name repmgr uses for a node. */
export function slotName(nodeId: number): string {
  return `repmgr_slot_${nodeId}`;
}

export function buildNodeRecord(ctx: ActionContext, type: NodeType, upstream: number | null, existing: NodeRecord | undefined): NodeRecord {
  const c = ctx.config;
  const now = ctx.now();
  let conninfo: string;
  try {
    conninfo = stripPassword(c.conninfo);
  } catch (error) {
    throw new PgvigilError('BAD_CONFIG', `"conninfo" is not a valid connection string: ${(error as Error).message}`);
  }
  return {
    cluster_id: c.cluster_id,
    node_id: c.node_id,
    node_name: c.node_name,
    type,
    upstream_node_id: upstream,
    active: true,
    location: c.location,
    priority: c.priority,
    conninfo,
    repluser: c.replication_user || parseConninfo(c.conninfo).user || null,
    slot_name: c.use_replication_slots && type !== 'witness' ? slotName(c.node_id) : null,
    config_file: ctx.configFile ?? null,
    instance_id: c.instance_id || null,
    fenced: existing?.fenced ?? false,
    instance_stopped_at: existing?.instance_stopped_at ?? null,
    registered_at: existing?.registered_at ?? now,
    updated_at: now,
  };
}

async function localRecovery(ctx: ActionContext): Promise<{ inRecovery: boolean; sysid: string }> {
  return withSession(ctx.config.conninfo, sqlTimeoutMs(ctx), async (s) => {
    const row = await queryOne<{ r: boolean; sysid: string }>(s, 'SELECT pg_is_in_recovery() AS r, (SELECT system_identifier::text FROM pg_control_system()) AS sysid', [], 'checking the local server');
    return { inRecovery: row.r, sysid: row.sysid };
  });
}

export async function primaryRegister(ctx: ActionContext, opts: { force: boolean }): Promise<ActionResult> {
  const c = ctx.config;
  ctx.out.info('connecting to primary database...');
  const local = await localRecovery(ctx);
  if (local.inRecovery) {
    throw new PgvigilError('BAD_CONFIG', 'server is in standby mode and cannot be registered as a primary', {
      hint: 'use "standby register" for a standby',
    });
  }
  let loaded = await guardTerm(ctx, 'primary register');
  const now = ctx.now();
  if (!loaded) {
    const created = await ctx.store.createCluster({
      cluster_id: c.cluster_id,
      term: 1,
      primary_node_id: c.node_id,
      paused: false,
      operation: null,
      lease: null,
      lease_observation: null,
      settings: clusterSettingsFrom(c),
      version: 0,
      created_at: now,
      updated_at: now,
    });
    if (created.ok) {
      ctx.out.notice(`cluster "${c.cluster_id}" created (term 1)`);
      await recordEvent(ctx, 'cluster_created', true, `cluster "${c.cluster_id}" created by node ${c.node_id}`, 1);
    }
    loaded = await requireCluster(ctx);
  }
  const cluster = loaded.snapshot.cluster;
  if (cluster.primary_node_id !== null && cluster.primary_node_id !== c.node_id) {
    const other = findNode(loaded, cluster.primary_node_id);
    if (other?.active && !opts.force) {
      throw new PgvigilError('BAD_CONFIG', `there is already an active registered primary node (ID: ${cluster.primary_node_id}) in cluster "${c.cluster_id}"`, {
        hint: 'use -F/--force to register this node as the primary anyway',
      });
    }
    const r = await ctx.store.updateCluster(c.cluster_id, cluster.version, { primary_node_id: c.node_id, settings: clusterSettingsFrom(c) }, now);
    if (!r.ok) throw new PgvigilError('CONFLICT', 'the cluster record changed while registering; try again');
  } else if (cluster.primary_node_id === c.node_id) {
    await ctx.store.updateCluster(c.cluster_id, cluster.version, { settings: clusterSettingsFrom(c) }, now);
  }
  const existing = findNode(loaded, c.node_id);
  await ctx.store.putNode(buildNodeRecord(ctx, 'primary', null, existing));
  const verb = existing ? 'updated' : 'registered';
  ctx.out.notice(`primary node record (ID: ${c.node_id}) ${verb}`);
  await recordEvent(ctx, 'primary_register', true, `primary node record (ID: ${c.node_id}) ${verb}`, cluster.term);
  return { changed: true, message: `primary node ${c.node_id} ${verb}` };
}

export async function standbyRegister(ctx: ActionContext, opts: { upstreamNodeId: number | undefined; force: boolean }): Promise<ActionResult> {
  const c = ctx.config;
  await guardTerm(ctx, 'standby register');
  const loaded = await requireCluster(ctx);
  const cluster = loaded.snapshot.cluster;
  let upstream = opts.upstreamNodeId;
  if (upstream === undefined) {
    if (cluster.primary_node_id === null) throw new PgvigilError('BAD_CONFIG', 'the cluster has no primary; supply --upstream-node-id');
    upstream = cluster.primary_node_id;
    ctx.out.warning(`--upstream-node-id not supplied, assuming upstream node is primary (node ID ${upstream})`);
  }
  if (upstream === c.node_id) throw new PgvigilError('BAD_CONFIG', 'a standby cannot be its own upstream');
  if (!findNode(loaded, upstream) && !opts.force) {
    throw new PgvigilError('BAD_CONFIG', `upstream node ${upstream} is not registered`, { hint: 'use -F/--force to register anyway' });
  }
  try {
    const local = await localRecovery(ctx);
    if (!local.inRecovery) throw new PgvigilError('BAD_CONFIG', 'this node is not a standby (pg_is_in_recovery() is false)');
  } catch (error) {
    if (!opts.force) throw error;
    ctx.out.warning(`local server not checked: ${(error as Error).message}`);
  }
  const existing = findNode(loaded, c.node_id);
  await ctx.store.putNode(buildNodeRecord(ctx, 'standby', upstream, existing));
  ctx.out.notice(`standby node "${c.node_name}" (ID: ${c.node_id}) successfully registered`);
  await recordEvent(ctx, 'standby_register', true, `standby registration succeeded; upstream node ID is ${upstream}`, cluster.term);
  return { changed: true, message: `standby node ${c.node_id} registered` };
}

export async function witnessRegister(ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config;
  await guardTerm(ctx, 'witness register');
  const loaded = await requireCluster(ctx);
  const cluster = loaded.snapshot.cluster;
  const existing = findNode(loaded, c.node_id);
  await ctx.store.putNode(buildNodeRecord(ctx, 'witness', cluster.primary_node_id, existing));
  ctx.out.notice(`witness node "${c.node_name}" (ID: ${c.node_id}) successfully registered`);
  await recordEvent(ctx, 'witness_register', true, `witness registration succeeded; upstream node ID is ${cluster.primary_node_id ?? 'none'}`, cluster.term);
  return { changed: true, message: `witness node ${c.node_id} registered` };
}

export async function unregister(ctx: ActionContext, type: NodeType, opts: { nodeId: number | undefined; force: boolean }): Promise<ActionResult> {
  const c = ctx.config;
  await guardTerm(ctx, `${type} unregister`);
  const loaded = await requireCluster(ctx);
  const nodeId = opts.nodeId ?? c.node_id;
  const node = findNode(loaded, nodeId);
  const event = type === 'primary' ? 'primary_unregister' : type === 'standby' ? 'standby_unregister' : 'witness_unregister';
  if (!node) {
    ctx.out.notice(`node ${nodeId} is not registered; nothing to do`);
    return { changed: false, message: `node ${nodeId} not registered` };
  }
  if (node.type !== type) throw new PgvigilError('BAD_CONFIG', `node ${nodeId} is registered as a ${node.type}, not a ${type}`);
  if (type === 'primary' && loaded.snapshot.cluster.primary_node_id === nodeId && node.active && !opts.force) {
    throw new PgvigilError('BAD_CONFIG', `node ${nodeId} is the cluster's current primary`, { hint: 'use -F/--force to unregister it anyway' });
  }
  await ctx.store.deleteNode(c.cluster_id, nodeId);
  ctx.out.info(`${type} node ${nodeId} unregistered`);
  await recordEvent(ctx, event, true, `node ${nodeId} unregistered`, loaded.snapshot.cluster.term);
  return { changed: true, message: `node ${nodeId} unregistered` };
}
