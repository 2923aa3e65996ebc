/**
 * Probes of the local PostgreSQL server (the heartbeat's `server`, docs/snapshot-format.md): postmaster process, connections,
 * recovery state, system identifier, timeline, LSNs, WAL receiver and senders, and data directory
 * writability. Each probe is bounded by a timeout; a server that is down yields a state that says
 * so, never an exception.
 */
import { open, readFile, readlink, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeRecord, ReplicationRow } from '../../core/model.js';
import { readDataFile, removeDataFile, runPgBinary } from '../host.js';
import { hostPort } from './conninfo.js';
import { close, connect, query, queryOne, withTimeout, type Session } from '../../adapters/pg-session.js';

/** Is a postmaster running for this data directory (postmaster.pid naming a live process)? */
export async function postmasterStatus(dataDir: string): Promise<{ running: boolean; pid: number | null }> {
  const text = await readDataFile(dataDir, 'postmaster.pid').catch(() => undefined);
  if (text === undefined) return { running: false, pid: null };
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return { running: false, pid: null };
  try {
    process.kill(pid, 0);
  } catch (error) {
    return { running: (error as NodeJS.ErrnoException).code === 'EPERM', pid };
  }
  return { running: !(await isZombie(pid)), pid };
}

/**
 * A live pid that is not this data directory's postmaster: the postmaster died and its pid went to
 * another process (pids wrap at 32768 on many hosts). Only a process known to be something else
 * counts — not a postgres process, working in another directory; one whose /proc entries cannot be
 * read (another user's) is taken to be the postmaster.
 */
async function pidReused(pid: number, dataDir: string): Promise<boolean> {
  const [comm, cwd] = await Promise.all([readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined), readlink(`/proc/${pid}/cwd`).catch(() => undefined)]);
  if (comm === undefined || cwd === undefined || comm.startsWith('postgres')) return false;
  return cwd !== (await realpath(dataDir).catch(() => dataDir));
}

/**
 * Removes the postmaster.pid of a postmaster that is dead (killed and not reaped yet, or its pid now
 * another process's): PostgreSQL refuses to start while kill(pid, 0) succeeds on the pid it names
 * ("lock file already exists"). Returns the dead postmaster's pid, or null when nothing was removed.
 */
export async function removeStaleLockFile(dataDir: string): Promise<number | null> {
  const status = await postmasterStatus(dataDir);
  if (status.pid === null || (status.running && !(await pidReused(status.pid, dataDir)))) return null;
  return (await removeDataFile(dataDir, 'postmaster.pid')) ? status.pid : null;
}

/**
 * A killed postmaster stays a zombie until its parent reaps it. systemd does that at once, but an
 * init that reaps lazily (containers, this sandbox's VM) can leave it for seconds, and kill(pid, 0)
 * still succeeds on a zombie. A dead postmaster is definitive evidence (docs/decision-engine.md), so it must not
 * read as "running but not accepting connections", which waits out the reconnect window.
 * Where /proc cannot be read, the kill(pid, 0) answer stands.
 */
export async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  // "pid (comm) state …": comm may hold spaces and parentheses, the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/** pg_controldata's fields, by their printed names ("Database cluster state" …). */
export type ControlData = Record<string, string>;

export async function controlData(bindir: string, dataDir: string): Promise<ControlData> {
  const r = await runPgBinary(bindir, dataDir, 'pg_controldata', ['-D', dataDir], 30_000);
  if (r.code !== 0) throw new Error(`pg_controldata failed: ${r.stderr.trim()}`);
  const out: ControlData = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Writes, fsyncs and removes a probe file (hg_repmgr's disk check). */
export async function dataDirectoryWritable(dataDir: string): Promise<boolean> {
  const file = join(dataDir, `pgvigil.probe.${process.pid}`);
  try {
    const handle = await open(file, 'w', 0o600);
    try {
      await handle.writeFile('pgvigil');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(file);
    return true;
  } catch {
    await unlink(file).catch(() => undefined);
    return false;
  }
}

/** What one probe of the local server found (times are filled in by the caller). */
export interface LocalProbe {
  postmaster_running: boolean;
  accepting_connections: boolean;
  in_recovery: boolean | null;
  system_identifier: string | null;
  timeline: number | null;
  current_lsn: string | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  wal_receiver_status: string | null;
  /**
   * The timeline the WAL receiver streams (pg_stat_wal_receiver.received_tli): the old one while
   * it still fetches the old timeline's WAL from a new primary, the new one once it has switched.
   */
  wal_receiver_timeline: number | null;
  wal_receiver_upstream_node_id: number | null;
  /** Where the WAL receiver streams from, as PostgreSQL reports it. */
  wal_receiver_sender: { host: string; port: number } | null;
  replication: ReplicationRow[];
  synchronous_standby_names: string | null;
  data_directory_writable: boolean | null;
  /**
   * Standby: seconds replay is behind (repmgr's measure): 0 when everything received is replayed,
   * else the age of the latest replayed transaction; null when WAL waits for replay and no
   * transaction has been replayed since the server started (GREATEST would read that as 0, and a
   * restarted standby whose replay is paused or delayed would pass any time bound).
   */
  replication_lag_secs: number | null;
  /** Settings waiting for a restart (`pg_settings.pending_restart`); empty when none or unknown. */
  pending_restart: string[];
  /** Why the server could not be queried, when it could not. */
  error: string | null;
}

/** Maps a WAL sender's host:port to a registered node by the host and port of its conninfo. */
export function nodeForSender(nodes: readonly NodeRecord[], host: string, port: number): number | null {
  for (const n of nodes) {
    try {
      const hp = hostPort(n.conninfo);
      if (hp.host === host && hp.port === port) return n.node_id;
    } catch {
      // a malformed conninfo cannot match
    }
  }
  return null;
}

/** Timeline of a WAL file name ("000000020000000000000003" → 2). */
export function timelineOfWalFile(name: string): number {
  return parseInt(name.slice(0, 8), 16);
}

/** What a session tells about the server (the rest of a probe comes from its files and processes). */
export type ServerFacts = Omit<LocalProbe, 'postmaster_running' | 'accepting_connections' | 'data_directory_writable' | 'error'>;

/** The facts of a server that could not be queried. */
export const NO_SERVER_FACTS: Readonly<ServerFacts> = {
  in_recovery: null,
  system_identifier: null,
  timeline: null,
  current_lsn: null,
  receive_lsn: null,
  replay_lsn: null,
  wal_receiver_status: null,
  wal_receiver_timeline: null,
  wal_receiver_upstream_node_id: null,
  wal_receiver_sender: null,
  replication: [],
  synchronous_standby_names: null,
  replication_lag_secs: null,
  pending_restart: [],
};

/** {@link LocalProbe.replication_lag_secs} in SQL: the probe and the lag sample read it alike. */
const REPLAY_LAG_SECS_SQL = `CASE WHEN NOT pg_is_in_recovery() THEN NULL
                 WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
                 WHEN pg_last_xact_replay_timestamp() IS NULL THEN NULL
                 ELSE GREATEST(0, EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp())))::float8 END`;

/** What a standby's lag answer needs, sampled between monitoring ticks (docs/agent.md, "The HTTP API"). */
export interface LagSample {
  in_recovery: boolean;
  receive_lsn: string | null;
  replay_lsn: string | null;
  replication_lag_secs: number | null;
}

/** One lag sample on an open session: a single statement reading no table. */
export async function sampleReplayLag(session: Session): Promise<LagSample> {
  return queryOne<LagSample>(
    session,
    `SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_receive_lsn()::text AS receive_lsn,
            pg_last_wal_replay_lsn()::text AS replay_lsn, ${REPLAY_LAG_SECS_SQL} AS replication_lag_secs`,
    [],
    'sampling the replay lag',
  );
}

/** Queries the facts of ServerState on an open session. */
export async function queryServerState(session: Session, nodes: readonly NodeRecord[]): Promise<ServerFacts> {
  const base = await queryOne<{
    in_recovery: boolean;
    sysid: string;
    ckpt_tli: number;
    min_tli: number;
    walfile: string | null;
    current_lsn: string | null;
    receive_lsn: string | null;
    replay_lsn: string | null;
    ssn: string;
    lag: number | null;
  }>(
    session,
    `SELECT pg_is_in_recovery() AS in_recovery,
            (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            (SELECT timeline_id FROM pg_control_checkpoint()) AS ckpt_tli,
            (SELECT min_recovery_end_timeline FROM pg_control_recovery()) AS min_tli,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
            pg_last_wal_receive_lsn()::text AS receive_lsn,
            pg_last_wal_replay_lsn()::text AS replay_lsn,
            current_setting('synchronous_standby_names') AS ssn,
            ${REPLAY_LAG_SECS_SQL} AS lag`,
    [],
    'reading the server state',
  );
  const receivers = await query<{ status: string; received_tli: number | null; sender_host: string | null; sender_port: number | null }>(
    session,
    'SELECT status, received_tli, sender_host, sender_port FROM pg_stat_wal_receiver',
    [],
    'reading pg_stat_wal_receiver',
  );
  const replication = await query<ReplicationRow>(
    session,
    `SELECT application_name, client_addr::text AS client_addr, state, sync_state, sent_lsn::text AS sent_lsn,
            write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn
       FROM pg_stat_replication`,
    [],
    'reading pg_stat_replication',
  );
  const pending = await query<{ name: string }>(session, 'SELECT name FROM pg_settings WHERE pending_restart ORDER BY name', [], 'reading pg_settings');
  const receiver = receivers[0];
  let timeline: number;
  if (!base.in_recovery && base.walfile) {
    // The insert timeline; pg_control_checkpoint() lags behind a promotion until the next checkpoint.
    timeline = timelineOfWalFile(base.walfile);
  } else {
    timeline = Math.max(base.ckpt_tli, base.min_tli ?? 0, receiver?.received_tli ?? 0);
  }
  const sender = receiver?.sender_host && receiver.sender_port ? { host: receiver.sender_host, port: receiver.sender_port } : null;
  return {
    in_recovery: base.in_recovery,
    system_identifier: base.sysid,
    timeline,
    current_lsn: base.current_lsn,
    receive_lsn: base.receive_lsn,
    replay_lsn: base.replay_lsn,
    wal_receiver_status: receiver?.status ?? null,
    wal_receiver_timeline: receiver?.received_tli ?? null,
    wal_receiver_upstream_node_id: sender ? nodeForSender(nodes, sender.host, sender.port) : null,
    wal_receiver_sender: sender,
    // Without superuser or pg_read_all_stats most columns read as NULL; keep the rows schema-valid.
    replication: replication.map((r) => ({
      ...r,
      application_name: (r.application_name ?? '').slice(0, 255),
      state: (r.state ?? 'unknown').slice(0, 32),
      sync_state: (['async', 'potential', 'sync', 'quorum'] as const).includes(r.sync_state) ? r.sync_state : 'async',
    })),
    synchronous_standby_names: base.ssn,
    replication_lag_secs: base.lag,
    pending_restart: pending.map((p) => p.name.slice(0, 128)).slice(0, 400),
  };
}

/** Probes the local server; never throws. */
export async function probeLocalServer(opts: { conninfo: string; dataDir: string; timeoutMs: number; nodes: readonly NodeRecord[] }): Promise<LocalProbe> {
  const pm = await postmasterStatus(opts.dataDir);
  // A hung disk must not hang the loop: no answer within the timeout reads as "unknown". Only a
  // running server's directory is checked: a stopped one may be under pg_rewind or a clone, and a
  // probe file that comes and goes there broke a rewind halfway ("could not remove file
  // pgvigil.probe.…"), leaving the node unable to rewind again (a 30-minute campaign,
  // docs/drills.md).
  const writable = pm.running ? await withTimeout(dataDirectoryWritable(opts.dataDir), opts.timeoutMs, 'disk check timed out').catch(() => null) : null;
  const down: LocalProbe = { ...NO_SERVER_FACTS, postmaster_running: pm.running, accepting_connections: false, data_directory_writable: writable, error: null };
  let session: Session | undefined;
  try {
    session = await connect(opts.conninfo, opts.timeoutMs);
  } catch (error) {
    return { ...down, error: describe(error) };
  }
  try {
    const state = await queryServerState(session, opts.nodes);
    return { ...down, ...state, accepting_connections: true };
  } catch (error) {
    return { ...down, accepting_connections: true, error: describe(error) };
  } finally {
    await close(session);
  }
}

function describe(error: unknown): string {
  const e = error as Error & { detail?: string };
  return e.detail ? `${e.message}: ${e.detail.split('\n')[0]}` : e.message;
}
