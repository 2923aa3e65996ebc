/**
 * `node status [--csv]` and `node check` (repmgr's single checks, `--nagios`, `--csv`, and
 * repmgr's exit codes: a single check exits 0/1/2/3 as Nagios expects; the full check exits 0 or
 * ERR_NODE_STATUS (25) when any check is not OK).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import type { NodeRecord, ServerState } from '../../core/model.js';
import {
  LOCAL_CHECKS,
  NAGIOS_EXIT,
  dataDirectoryWritableCheck,
  dbConnectionCheck,
  downstreamCheck,
  nodeCheckExitCode,
  replicationLagCheck,
  roleCheck,
  upstreamCheck,
  worstStatus,
  type CheckDefinition,
  type CheckOutcome,
  type CheckStatus,
  type CheckedNode,
} from '../../core/node-checks.js';
import type { LoadedCluster } from '../../core/ports.js';
import { renderAllChecks, renderSingleCheck, type CheckResult } from '../../shell/render/node.js';
import { dataDirOwner, requireDataDirectory } from '../host.js';
import { stripPassword } from '../pg/conninfo.js';
import { NO_SERVER_FACTS, dataDirectoryWritable, postmasterStatus, queryServerState, type ServerFacts } from '../pg/local.js';
import { close, connect, query, queryOne, type Session } from '../../adapters/pg-session.js';
import { findNode, loadCluster, sqlTimeoutMs, type ActionContext } from './context.js';

interface Facts {
  session: Session;
  state: ServerFacts;
  loaded: LoadedCluster | undefined;
  me: NodeRecord | undefined;
}

/**
 * The local facts as a heartbeat's ServerState, so the rules shared with `pgvigil node check
 * --node-id` (core/node-checks.ts) judge them.
 */
function localServerState(state: ServerFacts, writable: boolean | null, fenced: boolean, now: number): ServerState {
  return {
    postmaster_running: true,
    accepting_connections: true,
    last_accepting_at: now,
    down_since: null,
    in_recovery: state.in_recovery,
    system_identifier: state.system_identifier,
    timeline: state.timeline,
    current_lsn: state.current_lsn,
    receive_lsn: state.receive_lsn,
    replay_lsn: state.replay_lsn,
    wal_receiver_status: state.wal_receiver_status,
    wal_receiver_upstream_node_id: state.wal_receiver_upstream_node_id,
    replication: state.replication,
    synchronous_standby_names: state.synchronous_standby_names,
    data_directory_writable: writable,
    replication_lag_secs: state.replication_lag_secs,
    fenced,
  };
}

/** This node's record, or what the local server says it is when it is not registered. */
function checkedNode(ctx: ActionContext, facts: Facts): CheckedNode {
  return facts.me ?? { node_id: ctx.config.node_id, node_name: ctx.config.node_name, type: facts.state.in_recovery ? 'standby' : 'primary', upstream_node_id: null };
}

const unreachableState: CheckOutcome = { status: 'UNKNOWN', detail: 'cluster state unreachable' };

async function runCheck(ctx: ActionContext, option: string, facts: Facts): Promise<CheckOutcome> {
  const c = ctx.config;
  const { session, state, loaded, me } = facts;
  const nodes = loaded?.snapshot.nodes ?? [];
  const node = checkedNode(ctx, facts);
  const server = (writable: boolean | null = null): ServerState => localServerState(state, writable, false, ctx.now());
  switch (option) {
    case 'role':
      return roleCheck(me ?? null, server());
    case 'replication-lag':
      return replicationLagCheck(node, server(), loaded?.snapshot.cluster.settings ?? c);
    case 'upstream':
      return upstreamCheck(node, server(), nodes);
    case 'downstream':
      return loaded ? downstreamCheck(node, server(), nodes) : unreachableState;
    case 'db-connection':
      return dbConnectionCheck(node, server());
    case 'data-directory-writable':
      return dataDirectoryWritableCheck(node, server(await dataDirectoryWritable(c.data_directory)));
    case 'archive-ready': {
      let ready: number;
      try {
        ready = (await readdir(join(c.data_directory, 'pg_wal', 'archive_status'))).filter((f) => f.endsWith('.ready')).length;
      } catch {
        return { status: 'UNKNOWN', detail: 'unable to read pg_wal/archive_status' };
      }
      const status: CheckStatus = ready >= c.archive_ready_critical ? 'CRITICAL' : ready >= c.archive_ready_warning ? 'WARNING' : 'OK';
      return { status, detail: `${ready} pending archive ready files` };
    }
    case 'slots': {
      const rows = await query<{ slot_name: string }>(session, "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT active");
      if (rows.length > 0) return { status: 'CRITICAL', detail: `${rows.length} of physical replication slots are inactive: ${rows.map((r) => r.slot_name).join(', ')}` };
      return { status: 'OK', detail: 'node has no inactive physical replication slots' };
    }
    case 'missing-slots': {
      if (!loaded) return unreachableState;
      const expected = nodes.filter((n) => n.active && n.upstream_node_id === c.node_id && n.slot_name);
      const rows = await query<{ slot_name: string }>(session, "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'");
      const have = new Set(rows.map((r) => r.slot_name));
      const missing = expected.filter((n) => !have.has(n.slot_name as string));
      if (missing.length > 0) return { status: 'CRITICAL', detail: `${missing.length} physical replication slots are missing: ${missing.map((n) => n.slot_name).join(', ')}` };
      return { status: 'OK', detail: 'node has no missing physical replication slots' };
    }
    case 'data-directory-config': {
      const row = await queryOne<{ dir: string }>(session, "SELECT current_setting('data_directory') AS dir").catch(() => undefined);
      if (!row) return { status: 'UNKNOWN', detail: 'unable to read "data_directory" (superuser or pg_read_all_settings needed)' };
      return row.dir.replace(/\/$/, '') === c.data_directory.replace(/\/$/, '')
        ? { status: 'OK', detail: `configured "data_directory" is "${c.data_directory}"` }
        : { status: 'CRITICAL', detail: `configured "data_directory" is "${c.data_directory}"; PostgreSQL reports "${row.dir}"` };
    }
    case 'replication-config-owner': {
      try {
        const owner = await dataDirOwner(c.data_directory);
        const s = await stat(join(c.data_directory, 'postgresql.auto.conf'));
        return s.uid === owner.uid
          ? { status: 'OK', detail: '"postgresql.auto.conf" is owned by the data directory owner' }
          : { status: 'CRITICAL', detail: `"postgresql.auto.conf" is owned by uid ${s.uid}, the data directory by uid ${owner.uid}` };
      } catch (error) {
        return { status: 'UNKNOWN', detail: (error as Error).message };
      }
    }
    default:
      return { status: 'UNKNOWN', detail: `unknown check "${option}"` };
  }
}

async function gatherFacts(ctx: ActionContext): Promise<Facts> {
  await requireDataDirectory(ctx.config.data_directory);
  const loaded = await loadCluster(ctx).catch((error: unknown) => {
    ctx.out.warning(`cluster state not read: ${(error as Error).message}`);
    return undefined;
  });
  const session = await connect(ctx.config.conninfo, sqlTimeoutMs(ctx));
  try {
    const state = await queryServerState(session, loaded?.snapshot.nodes ?? []);
    return { session, state, loaded, me: findNode(loaded, ctx.config.node_id) };
  } catch (error) {
    await close(session);
    throw error;
  }
}

export interface NodeCheckOptions {
  /** The single checks requested (option names); empty = all. */
  checks: string[];
  nagios: boolean;
  csv: boolean;
}

export async function nodeCheck(ctx: ActionContext, opts: NodeCheckOptions): Promise<number> {
  const single = opts.checks.length === 1 ? opts.checks[0] : undefined;
  const format = opts.nagios ? 'nagios' : opts.csv ? 'csv' : 'text';
  
  let facts: Facts;
  try {
    facts = await gatherFacts(ctx);
  } catch (error) {
    if (single === 'db-connection' || opts.nagios) {
      const def = LOCAL_CHECKS.find((d) => d.option === (single ?? 'db-connection')) as CheckDefinition;
      const pm = await postmasterStatus(ctx.config.data_directory);
      const self: CheckedNode = { node_id: ctx.config.node_id, node_name: ctx.config.node_name, type: 'primary', upstream_node_id: null };
      const judged = dbConnectionCheck(self, { ...localServerState(NO_SERVER_FACTS, null, false, ctx.now()), postmaster_running: pm.running, accepting_connections: false });
      const reason = ((error as PgvigilError).detail ?? (error as Error).message).split('\n')[0];
      ctx.out.print(renderSingleCheck({ def, outcome: { status: 'CRITICAL', detail: `unable to connect to the local node (${judged.detail}): ${reason}` } }, format));
      return NAGIOS_EXIT.CRITICAL;
    }
    throw error;
  }
  try {
    const defs = opts.checks.length === 0 ? LOCAL_CHECKS.filter((d) => d.option !== 'db-connection') : LOCAL_CHECKS.filter((d) => opts.checks.includes(d.option));
    const results: CheckResult[] = [];
    for (const def of defs) {
      let outcome: CheckOutcome;
      try {
        outcome = await runCheck(ctx, def.option, facts);
      } catch (error) {
        outcome = { status: 'UNKNOWN', detail: (error as Error).message };
      }
      results.push({ def, outcome });
    }
    const worst = worstStatus(results.map((r) => r.outcome.status));
    if (single !== undefined) {
      const r = results[0];
      if (!r) throw new PgvigilError('BAD_ARGUMENT', `unknown check "${single}"`);
      ctx.out.print(renderSingleCheck(r, format));
    } else {
      for (const line of renderAllChecks(checkedNode(ctx, facts), results, format, worst)) ctx.out.print(line);
    }
    return nodeCheckExitCode(worst, single !== undefined || opts.nagios);
  } finally {
    await close(facts.session);
  }
}


export async function nodeStatus(ctx: ActionContext, opts: { csv: boolean }): Promise<number> {
  const c = ctx.config;
  const facts = await gatherFacts(ctx);
  try {
    const s = facts.session;
    const info = await queryOne<{ version: string; size: string; archive_mode: string; archive_command: string; max_senders: string; max_slots: string; slots: number }>(
      s,
      `SELECT current_setting('server_version') AS version,
              pg_size_pretty((SELECT sum(pg_database_size(oid)) FROM pg_database)) AS size,
              current_setting('archive_mode') AS archive_mode,
              current_setting('archive_command') AS archive_command,
              current_setting('max_wal_senders') AS max_senders,
              current_setting('max_replication_slots') AS max_slots,
              (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'physical')::int AS slots`,
    );
    const st = facts.state;
    const upstream = facts.me?.upstream_node_id ? findNode(facts.loaded, facts.me.upstream_node_id) : undefined;
    const rows: Array<[string, string]> = [
      ['PostgreSQL version', info.version],
      ['Total data size', info.size],
      ['Conninfo', stripPassword(c.conninfo)],
      ['Role', st.in_recovery ? 'standby' : 'primary'],
      ['WAL archiving', info.archive_mode],
      ['Archive command', info.archive_command || '(none)'],
      ['Replication connections', `${st.replication.length} (of maximal ${info.max_senders})`],
      ['Replication slots', `${info.slots} physical (of maximal ${info.max_slots})`],
      ['Timeline', String(st.timeline ?? '?')],
      ['System identifier', st.system_identifier ?? '?'],
    ];
    if (st.in_recovery) {
      rows.push(['Upstream node', upstream ? `${upstream.node_name} (ID: ${upstream.node_id})` : '(none)']);
      rows.push(['WAL receiver', st.wal_receiver_status ?? 'not running']);
      rows.push(['Last received LSN', st.receive_lsn ?? '(none)']);
      rows.push(['Last replayed LSN', st.replay_lsn ?? '(none)']);
    } else {
      rows.push(['Current LSN', st.current_lsn ?? '?']);
      rows.push(['Replication lag', 'n/a']);
    }
    if (opts.csv) {
      ctx.out.print(`"Node name","${c.node_name}"`);
      ctx.out.print(`"Node ID","${c.node_id}"`);
      for (const [k, v] of rows) ctx.out.print(`"${k}","${v.replace(/"/g, '""')}"`);
    } else {
      ctx.out.print(`Node "${c.node_name}":`);
      for (const [k, v] of rows) ctx.out.print(`\t${k}: ${v}`);
    }
    return ExitCode.SUCCESS;
  } finally {
    await close(facts.session);
  }
}
