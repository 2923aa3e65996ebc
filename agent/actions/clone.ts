/**
 * `standby clone [--dry-run] [-c/--fast-checkpoint]`: pg_basebackup from the upstream into this
 * node's data directory, with repmgr's prerequisite checks and output (see the seeds).
 */
import { chmod, chown, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { PgvigilError } from '../../core/errors.js';
import { runningAsRoot } from '../../shell/run-as.js';
import { dataDirOwner, exists, pgBin, runPgBinary } from '../host.js';
import { formatConninfo, hostPort, parseConninfo, stripPassword } from '../pg/conninfo.js';
import { controlData } from '../pg/local.js';
import { writeAutoConfSettings } from '../pg/recovery.js';
import { close, connect, query, queryOne } from '../../adapters/pg-session.js';
import { findNode, guardTerm, recordEvent, sqlTimeoutMs, type ActionContext, type ActionResult } from './context.js';
import { slotName } from './register.js';

export interface CloneOptions {
  dryRun: boolean;
  fastCheckpoint: boolean;
  upstreamConninfo: string | undefined;
  upstreamNodeId: number | undefined;
  force: boolean;
}

/** primary_conninfo for streaming from `upstreamConninfo`: no password, our application_name. */
export function primaryConninfoFor(upstreamConninfo: string, nodeName: string, replicationUser: string): string {
  const p = parseConninfo(upstreamConninfo);
  delete p.password;
  delete p.dbname;
  if (replicationUser) p.user = replicationUser;
  p.application_name = nodeName;
  return formatConninfo(p);
}

async function directoryState(dir: string): Promise<'missing' | 'empty' | 'cluster' | 'nonempty'> {
  if (!(await exists(dir))) return 'missing';
  const entries = await readdir(dir);
  if (entries.length === 0) return 'empty';
  return entries.includes('PG_VERSION') ? 'cluster' : 'nonempty';
}

export async function standbyClone(ctx: ActionContext, opts: CloneOptions): Promise<ActionResult> {
  const c = ctx.config;
  const out = ctx.out;
  const loaded = await guardTerm(ctx, 'standby clone');
  let upstreamConninfo = opts.upstreamConninfo;
  let upstreamId = opts.upstreamNodeId ?? loaded?.snapshot.cluster.primary_node_id ?? null;
  if (!upstreamConninfo) {
    const upstream = upstreamId === null ? undefined : findNode(loaded, upstreamId);
    if (!upstream) {
      throw new PgvigilError('BAD_CONFIG', 'no upstream node to clone from', {
        hint: 'register the primary first, or supply --upstream-conninfo / --upstream-node-id',
      });
    }
    upstreamConninfo = upstream.conninfo;
  } else if (opts.upstreamNodeId === undefined) {
    const hp = hostPort(upstreamConninfo);
    upstreamId = loaded?.snapshot.nodes.find((n) => { const x = hostPort(n.conninfo); return x.host === hp.host && x.port === hp.port; })?.node_id ?? upstreamId;
  }
  const dataDir = c.data_directory;
  out.notice(`destination directory "${dataDir}" provided`);
  const dirState = await directoryState(dataDir);

  out.info('connecting to source node');
  out.detail(`connection string is: ${stripPassword(upstreamConninfo)}`);
  const timeout = sqlTimeoutMs(ctx);
  const source = await connect(upstreamConninfo, timeout);
  let sourceSysid: string;
  let slotExists = false;
  try {
    const info = await queryOne<{ size: string; sysid: string; in_recovery: boolean; max_senders: number; senders: number; checksums: string; hints: string }>(
      source,
      `SELECT pg_size_pretty(sum(pg_database_size(oid))) AS size,
              (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
              pg_is_in_recovery() AS in_recovery,
              current_setting('max_wal_senders')::int AS max_senders,
              (SELECT count(*) FROM pg_stat_replication)::int AS senders,
              current_setting('data_checksums') AS checksums,
              current_setting('wal_log_hints') AS hints
         FROM pg_database`,
      [],
      'reading the source node',
    );
    sourceSysid = info.sysid;
    out.detail(`current installation size is ${info.size}`);
    if (dirState === 'cluster') {
      const cd = await controlData(c.pg_bindir, dataDir).catch(() => undefined);
      if (cd?.['Database system identifier'] === sourceSysid && !opts.force) {
        out.notice(`data directory "${dataDir}" already contains a clone of this cluster (system identifier ${sourceSysid}); nothing to do`);
        return { changed: false, message: 'already cloned' };
      }
    }
    if ((dirState === 'cluster' || dirState === 'nonempty') && !opts.force) {
      throw new PgvigilError('BAD_CONFIG', `target data directory "${dataDir}" exists and is not empty`, {
        hint: 'use -F/--force to overwrite it, or choose an empty directory',
      });
    }
    const slot = slotName(c.node_id);
    if (c.use_replication_slots) {
      const rows = await query<{ active: boolean }>(source, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot], 'checking replication slots');
      slotExists = rows.length > 0;
      if (rows[0]?.active) throw new PgvigilError('BAD_CONFIG', `replication slot "${slot}" on the source node is active`);
      out.info(slotExists ? `replication slot "${slot}" already exists on the source node and will be reused` : `replication slot "${slot}" will be created on the source node`);
    } else {
      out.info('replication slot usage not requested;  no replication slot will be set up for this standby');
    }
    out.info(`parameter "max_wal_senders" set to ${info.max_senders}`);
    const required = 2;
    out.notice(`checking for available walsenders on the source node (${required} required)`);
    const available = info.max_senders - info.senders;
    if (available < required) {
      throw new PgvigilError('BAD_BASEBACKUP', 'insufficient free walsenders on the source node', {
        detail: `${required} free walsenders required, ${available} free walsenders available`,
        hint: 'increase "max_wal_senders" on the source node',
      });
    }
    out.info('sufficient walsenders available on the source node');
    out.detail(`${required} required, ${available} available`);
    out.notice(`checking replication connections can be made to the source server (${required} required)`);
    const replConninfo = c.replication_user ? formatConninfo({ ...parseConninfo(upstreamConninfo), user: c.replication_user }) : upstreamConninfo;
    const conns = [];
    try {
      for (let i = 0; i < required; i++) conns.push(await connect(replConninfo, timeout, { replication: true }));
      for (const r of conns) await r.query('IDENTIFY_SYSTEM');
    } catch (error) {
      throw new PgvigilError('DB_CONN', 'unable to establish necessary replication connections', {
        detail: (error as PgvigilError).detail ?? (error as Error).message,
        hint: 'check pg_hba.conf on the source node for a "replication" entry for this user',
      });
    } finally {
      for (const r of conns) await close(r);
    }
    out.info('required number of replication connections could be made to the source server');
    out.detail(`${required} replication connections required`);
    if (info.checksums !== 'on' && info.hints !== 'on') {
      out.warning('data checksums are not enabled and "wal_log_hints" is "off"');
      out.detail('pg_rewind requires "wal_log_hints" to be enabled');
    }
  } finally {
    await close(source);
  }
  if (upstreamId !== null) out.notice(`standby will attach to upstream node ${upstreamId}`);
  if (!opts.fastCheckpoint) out.hint('consider using the -c/--fast-checkpoint option');

  const src = parseConninfo(upstreamConninfo);
  const { host, port } = hostPort(upstreamConninfo);
  const args = ['-l', 'pgvigil base backup', '-D', dataDir, '-h', host, '-p', String(port), '-U', c.replication_user || src.user || 'postgres', '-X', 'stream', '-R', '--no-password'];
  if (opts.fastCheckpoint) args.push('-c', 'fast');
  if (c.use_replication_slots) args.push('-S', slotName(c.node_id), ...(slotExists ? [] : ['-C']));
  const printable = `${pgBin(c.pg_bindir, 'pg_basebackup')} ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`;
  if (opts.dryRun) {
    await checkDataDirPermissions(ctx, dataDir, dirState);
    out.info('would execute:');
    out.detail(`  ${printable}`);
    out.info('all prerequisites for "standby clone" are met');
    return { changed: false, message: 'dry run: all prerequisites met' };
  }

  try {
    await prepareDataDir(dataDir, dirState, opts.force);
  } catch (error) {
    throw new PgvigilError('BAD_CONFIG', `unable to prepare data directory "${dataDir}"`, {
      detail: (error as Error).message,
      hint: 'the parent directory must exist and be writable by the PostgreSQL user',
      cause: error,
    });
  }
  out.info('executing:');
  out.detail(`  ${printable}`);
  const r = await runPgBinary(c.pg_bindir, dataDir, 'pg_basebackup', args, 3_600_000);
  if (r.code !== 0) {
    await recordEvent(ctx, 'standby_clone', false, `pg_basebackup failed: ${r.stderr.trim().slice(0, 500)}`);
    throw new PgvigilError('BAD_BASEBACKUP', 'unable to take a base backup of the source node', { detail: r.stderr.trim() });
  }
  // Our own primary_conninfo: no password, application_name = node_name (synchronous_standby_names matches on it).
  await writeAutoConfSettings(dataDir, {
    primary_conninfo: primaryConninfoFor(upstreamConninfo, c.node_name, c.replication_user),
    primary_slot_name: c.use_replication_slots ? slotName(c.node_id) : undefined,
  });
  out.notice('standby clone (using pg_basebackup) complete');
  out.notice('you can now start your PostgreSQL server');
  out.hint(`for example: pg_ctl -D ${dataDir} start`);
  out.hint('after starting the server, you need to register this standby with "standby register"');
  await recordEvent(ctx, 'standby_clone', true, `cloned from host "${host}", port ${port}; backup method: pg_basebackup`);
  return { changed: true, message: 'cloned' };
}

async function checkDataDirPermissions(ctx: ActionContext, dataDir: string, state: string): Promise<void> {
  const parent = dataDir.replace(/\/[^/]+\/?$/, '') || '/';
  const target = state === 'missing' ? parent : dataDir;
  try {
    const s = await stat(target);
    if (!s.isDirectory()) throw new PgvigilError('BAD_CONFIG', `"${target}" is not a directory`);
    if (state !== 'missing' && (s.mode & 0o077) !== 0) {
      ctx.out.warning(`data directory "${dataDir}" has permissions ${(s.mode & 0o777).toString(8)}; it will be set to 0700`);
    }
  } catch (error) {
    if (error instanceof PgvigilError) throw error;
    throw new PgvigilError('BAD_CONFIG', `cannot use data directory "${dataDir}": parent directory "${parent}" does not exist`);
  }
  ctx.out.info(`data directory "${dataDir}" ${state === 'missing' ? 'will be created' : 'is empty and can be used'}`);
}

async function prepareDataDir(dataDir: string, state: string, force: boolean): Promise<void> {
  const owner = await dataDirOwner(dataDir);
  if (state === 'missing') await mkdir(dataDir, { mode: 0o700 });
  if (force && (state === 'cluster' || state === 'nonempty')) {
    for (const e of await readdir(dataDir)) await rm(`${dataDir}/${e}`, { recursive: true, force: true });
  }
  await chmod(dataDir, 0o700);
  if (runningAsRoot()) await chown(dataDir, owner.uid, owner.gid);
}
