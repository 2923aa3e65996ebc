/**
 * `node status [--csv]` and `node check` (repmgr's single checks, `--nagios`, `--csv`, and
 * repmgr's exit codes: a single check exits 0/1/2/3 as Nagios expects; the full check exits 0 or
 * ERR_NODE_STATUS (25) when any check is not OK).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import type { NodeRecord } from '../../core/model.js';
import type { LoadedCluster } from '../../core/ports.js';
import { dataDirOwner, requireDataDirectory } from '../host.js';
import { stripPassword } from '../pg/conninfo.js';
import { queryServerState } from '../pg/local.js';
import { close, connect, query, queryOne, type Session } from '../pg/session.js';
import { findNode, loadCluster, sqlTimeoutMs, type ActionContext } from './context.js';

export type CheckStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
}

export interface CheckDefinition {
  option: string;
  label: string;
  nagios: string;
}

export const NODE_CHECKS: readonly CheckDefinition[] = [
  { option: 'role', label: 'Server role', nagios: 'REPMGR_SERVER_ROLE' },
  { option: 'replication-lag', label: 'Replication lag', nagios: 'REPMGR_REPLICATION_LAG' },
  { option: 'archive-ready', label: 'WAL archiving', nagios: 'REPMGR_ARCHIVE_READY' },
  { option: 'upstream', label: 'Upstream connection', nagios: 'REPMGR_UPSTREAM_SERVER' },
  { option: 'downstream', label: 'Downstream servers', nagios: 'REPMGR_DOWNSTREAM_SERVERS' },
  { option: 'slots', label: 'Replication slots', nagios: 'REPMGR_INACTIVE_SLOTS' },
  { option: 'missing-slots', label: 'Missing physical replication slots', nagios: 'REPMGR_MISSING_SLOTS' },
  { option: 'data-directory-config', label: 'Configured data directory', nagios: 'REPMGR_DATA_DIRECTORY' },
  { option: 'replication-config-owner', label: 'Replication configuration file owner', nagios: 'REPMGR_REPLICATION_CONFIG_OWNER' },
  { option: 'db-connection', label: 'Database connection', nagios: 'REPMGR_DB_CONNECTION' },
];

const NAGIOS_EXIT: Record<CheckStatus, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

interface Facts {
  session: Session;
  state: Awaited<ReturnType<typeof queryServerState>>;
  loaded: LoadedCluster | undefined;
  me: NodeRecord | undefined;
}

async function runCheck(ctx: ActionContext, option: string, facts: Facts): Promise<CheckOutcome> {
  const c = ctx.config;
  const { session, state, loaded, me } = facts;
  const nodes = loaded?.snapshot.nodes ?? [];
  switch (option) {
    case 'role': {
      const actual = state.in_recovery ? 'standby' : 'primary';
      if (!me) return { status: 'UNKNOWN', detail: `node is ${actual} but not registered (or the cluster state is unreachable)` };
      if (me.type === 'witness') return { status: 'OK', detail: 'node is witness' };
      return me.type === actual
        ? { status: 'OK', detail: `node is ${actual}` }
        : { status: 'CRITICAL', detail: `node is registered as ${me.type} but running as ${actual}` };
    }
    case 'replication-lag': {
      if (!state.in_recovery) return { status: 'OK', detail: 'N/A - node is primary' };
      const row = await queryOne<{ lag: number | null }>(
        session,
        `SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                     ELSE EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp()))::int END AS lag`,
      );
      const lag = row.lag ?? 0;
      const status: CheckStatus = lag >= c.replication_lag_critical ? 'CRITICAL' : lag >= c.replication_lag_warning ? 'WARNING' : 'OK';
      return { status, detail: `${lag} seconds` };
    }
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
    case 'upstream': {
      if (!state.in_recovery) return { status: 'OK', detail: 'N/A - node is primary' };
      const expected = me?.upstream_node_id ?? null;
      if (state.wal_receiver_status !== 'streaming') return { status: 'CRITICAL', detail: `node is not attached to its upstream node${expected ? ` (ID: ${expected})` : ''}` };
      if (expected !== null && state.wal_receiver_upstream_node_id !== expected) {
        return { status: 'CRITICAL', detail: `node streams from node ${state.wal_receiver_upstream_node_id ?? 'unknown'}, registered upstream is node ${expected}` };
      }
      return { status: 'OK', detail: `node is attached to expected upstream node${expected ? ` (ID: ${expected})` : ''}` };
    }
    case 'downstream': {
      if (!loaded) return { status: 'UNKNOWN', detail: 'cluster state unreachable' };
      const expected = nodes.filter((n) => n.active && n.type === 'standby' && n.upstream_node_id === c.node_id);
      const attached = new Set(state.replication.filter((r) => r.state === 'streaming').map((r) => r.application_name));
      const missing = expected.filter((n) => !attached.has(n.node_name));
      if (expected.length === 0) return { status: 'OK', detail: 'this node has no downstream nodes' };
      if (missing.length > 0) {
        return { status: 'CRITICAL', detail: `${missing.length} of ${expected.length} downstream nodes not attached; missing: ${missing.map((n) => `${n.node_name} (ID: ${n.node_id})`).join(', ')}` };
      }
      return { status: 'OK', detail: `${expected.length} of ${expected.length} downstream nodes attached` };
    }
    case 'slots': {
      const rows = await query<{ slot_name: string }>(session, "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND NOT active");
      if (rows.length > 0) return { status: 'CRITICAL', detail: `${rows.length} of physical replication slots are inactive: ${rows.map((r) => r.slot_name).join(', ')}` };
      return { status: 'OK', detail: 'node has no inactive physical replication slots' };
    }
    case 'missing-slots': {
      if (!loaded) return { status: 'UNKNOWN', detail: 'cluster state unreachable' };
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
    case 'db-connection':
      return { status: 'OK', detail: 'connection to the local node succeeded' };
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
  let facts: Facts;
  try {
    facts = await gatherFacts(ctx);
  } catch (error) {
    if (single === 'db-connection' || opts.nagios) {
      const def = NODE_CHECKS.find((d) => d.option === (single ?? 'db-connection')) as CheckDefinition;
      const detail = `unable to connect to the local node: ${((error as PgvigilError).detail ?? (error as Error).message).split('\n')[0]}`;
      ctx.out.print(opts.nagios ? `${def.nagios} CRITICAL: ${detail}` : opts.csv ? `"${def.label}","CRITICAL","${detail}"` : `CRITICAL (${detail})`);
      return NAGIOS_EXIT.CRITICAL;
    }
    throw error;
  }
  try {
    const defs = opts.checks.length === 0 ? NODE_CHECKS.filter((d) => d.option !== 'db-connection') : NODE_CHECKS.filter((d) => opts.checks.includes(d.option));
    const results: Array<{ def: CheckDefinition; outcome: CheckOutcome }> = [];
    for (const def of defs) {
      let outcome: CheckOutcome;
      try {
        outcome = await runCheck(ctx, def.option, facts);
      } catch (error) {
        outcome = { status: 'UNKNOWN', detail: (error as Error).message };
      }
      results.push({ def, outcome });
    }
    if (single !== undefined) {
      const r = results[0];
      if (!r) throw new PgvigilError('BAD_ARGUMENT', `unknown check "${single}"`);
      if (opts.nagios) ctx.out.print(`${r.def.nagios} ${r.outcome.status}: ${r.outcome.detail}`);
      else if (opts.csv) ctx.out.print(`"${r.def.label}","${r.outcome.status}","${r.outcome.detail}"`);
      else ctx.out.print(`${r.outcome.status} (${r.outcome.detail})`);
      return NAGIOS_EXIT[r.outcome.status];
    }
    if (opts.nagios) {
      const worst = results.reduce<CheckStatus>((w, r) => (NAGIOS_EXIT[r.outcome.status] > NAGIOS_EXIT[w] ? r.outcome.status : w), 'OK');
      ctx.out.print(`REPMGR_NODE ${worst}: ${results.map((r) => `${r.def.nagios}=${r.outcome.status}`).join(', ')}`);
      return NAGIOS_EXIT[worst];
    }
    if (opts.csv) {
      for (const r of results) ctx.out.print(`"${r.def.label}","${r.outcome.status}","${r.outcome.detail}"`);
    } else {
      ctx.out.print(`Node "${ctx.config.node_name}":`);
      for (const r of results) ctx.out.print(`\t${r.def.label}: ${r.outcome.status} (${r.outcome.detail})`);
    }
    return results.every((r) => r.outcome.status === 'OK') ? ExitCode.SUCCESS : ExitCode.ERR_NODE_STATUS;
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
