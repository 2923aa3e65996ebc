/**
 * One local PostgreSQL server for the sandbox, the tests and the benchmarks.
 *
 * PostgreSQL refuses to run as root, so when this process is root every PostgreSQL binary is
 * spawned with the uid/gid of an unprivileged OS user (`postgres` by default; shell/run-as.ts) and the data
 * directory is created owned by that user. When this process is not root, binaries run as the
 * current user.
 *
 * The configuration written here is what streaming replication with pg_rewind needs: `wal_level =
 * replica`, `hot_standby`, WAL senders and replication slots, `wal_log_hints` and data checksums
 * (pg_rewind needs one of them), and a pg_hba.conf that admits normal and replication connections
 * from the given networks. Passwords never go into a conninfo: use {@link writePgpass}.
 *
 * ```ts
 * const dir = await makeOwnedTempDir('pg-primary-');
 * const pg = new PostgresServer({ dataDir: `${dir}/data`, port: 55432 });
 * await pg.initdb();
 * await pg.start();
 * await pg.query('CREATE TABLE t (x int)');
 * await pg.stop('fast');
 * ```
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULT_PG_BINDIR, chownTo, lookupOsUser, runAs, type OsUser, type RunOptions, type RunResult } from '../shell/run-as.js';

/**
 * Creates a temporary directory owned by the PostgreSQL OS user (mode 0700). The caller removes it
 * (see {@link PostgresServer.destroy} or `rm -rf`).
 */
export async function makeOwnedTempDir(prefix: string, user: OsUser = lookupOsUser()): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o700);
  await chownTo(dir, user);
  return dir;
}

/** One `.pgpass` line: host:port:database:user:password. */
export interface PgpassEntry {
  host: string;
  port: number | '*';
  database: string;
  user: string;
  password: string;
}

/** Writes a `.pgpass` file (mode 0600, owned by `user`), the only place a password may live. */
export async function writePgpass(file: string, entries: readonly PgpassEntry[], user: OsUser = lookupOsUser()): Promise<void> {
  const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const text = entries.map((e) => [e.host, String(e.port), e.database, e.user, e.password].map(esc).join(':')).join('\n');
  await writeFile(file, `${text}\n`, { mode: 0o600 });
  await chownTo(file, user);
}

/** How a server is stopped: pg_ctl's shutdown modes. */
export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PostgresServerOptions {
  /** The data directory (created by {@link PostgresServer.initdb}; its parent must exist). */
  dataDir: string;
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Addresses the server listens on. @default host */
  listenAddresses?: string;
  /** @default DEFAULT_PG_BINDIR */
  binDir?: string;
  /** OS user the server runs as. @default 'postgres' */
  osUser?: string;
  /** Server log file (pg_ctl -l). @default `<dataDir>.log` */
  logFile?: string;
  /** Database superuser created by initdb. @default 'postgres' */
  superuser?: string;
  /** Authentication method in pg_hba.conf for TCP connections. @default 'trust' */
  auth?: 'trust' | 'scram-sha-256';
  /**
   * The superuser's password, set by initdb and used by {@link PostgresServer.query}. Needed with
   * `auth: 'scram-sha-256'`; give it to other clients through {@link writePgpass}, never a conninfo.
   */
  superuserPassword?: string;
  /** Networks admitted by pg_hba.conf (normal and replication connections). @default ['127.0.0.1/32', '::1/128'] */
  hbaNetworks?: string[];
  /** `cluster_name`, shown in process titles and used as the default application_name. */
  clusterName?: string;
  /** Extra postgresql.conf settings, appended after the defaults (they win). */
  settings?: Record<string, string | number | boolean>;
}

/** Manages one PostgreSQL server. The constructor only assigns; nothing runs until a method is called. */
export class PostgresServer {
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  readonly binDir: string;
  readonly logFile: string;
  readonly superuser: string;
  private readonly options: PostgresServerOptions;
  private readonly osUserName: string;

  constructor(options: PostgresServerOptions) {
    this.options = options;
    this.dataDir = options.dataDir;
    this.port = options.port;
    this.host = options.host ?? '127.0.0.1';
    this.binDir = options.binDir ?? DEFAULT_PG_BINDIR;
    this.logFile = options.logFile ?? `${options.dataDir}.log`;
    this.superuser = options.superuser ?? 'postgres';
    this.osUserName = options.osUser ?? 'postgres';
  }

  /** The OS user this server runs as. */
  get osUser(): OsUser {
    return lookupOsUser(this.osUserName);
  }

  /** A libpq conninfo for this server (no password; use .pgpass). */
  conninfo(database = 'postgres', user = this.superuser): string {
    return `host=${this.host} port=${this.port} user=${user} dbname=${database} connect_timeout=5`;
  }

  /** Runs a PostgreSQL binary (`initdb`, `pg_ctl` …) from binDir as the server's OS user. */
  async bin(name: string, args: readonly string[], options: Omit<RunOptions, 'user'> = {}): Promise<RunResult> {
    return runAs(join(this.binDir, name), args, { ...options, user: this.osUser, env: { LC_ALL: 'C', ...options.env } });
  }

  /**
   * Creates the data directory with initdb (data checksums on, so pg_rewind works) and writes
   * postgresql.conf and pg_hba.conf. Fails if the directory already holds a cluster.
   */
  async initdb(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await chownTo(this.dataDir, this.osUser);
    const args = ['-D', this.dataDir, '-U', this.superuser, '--auth=trust', '--data-checksums', '-E', 'UTF8', '--locale=C', '--no-sync'];
    const pwfile = `${this.dataDir}.pw`;
    if (this.options.superuserPassword !== undefined) {
      await writeFile(pwfile, `${this.options.superuserPassword}\n`, { mode: 0o600 });
      await chownTo(pwfile, this.osUser);
      args.push(`--pwfile=${pwfile}`);
    }
    const r = await this.bin('initdb', args).finally(() => rm(pwfile, { force: true }));
    if (r.code !== 0) throw new Error(`initdb failed for ${this.dataDir} (exit ${r.code}): ${r.stderr.trim()}`);
    await this.writeConfig();
  }

  /**
   * (Re)writes postgresql.conf and pg_hba.conf for this node (its own port and listen address).
   * Call it after pg_basebackup, which copies the source's files.
   */
  async writeConfig(): Promise<void> {
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: this.options.listenAddresses ?? this.host,
      port: this.port,
      unix_socket_directories: '',
      max_connections: 40,
      shared_buffers: '16MB',
      wal_level: 'replica',
      hot_standby: true,
      hot_standby_feedback: true,
      max_wal_senders: 10,
      max_replication_slots: 10,
      wal_keep_size: '256MB',
      wal_log_hints: true,
      wal_receiver_status_interval: '1s',
      wal_retrieve_retry_interval: '1s',
      password_encryption: 'scram-sha-256',
      logging_collector: false,
      log_line_prefix: '%m [%p] ',
      ...(this.options.clusterName ? { cluster_name: this.options.clusterName } : {}),
      ...this.options.settings,
    };
    const conf = Object.entries(settings)
      .map(([k, v]) => `${k} = ${typeof v === 'number' ? String(v) : typeof v === 'boolean' ? (v ? 'on' : 'off') : `'${v.replace(/'/g, "''")}'`}`)
      .join('\n');
    await this.writeOwned('postgresql.conf', `# written by pgvigil sandbox\n${conf}\n`);
    const method = this.options.auth ?? 'trust';
    const networks = this.options.hbaNetworks ?? ['127.0.0.1/32', '::1/128'];
    const hba = [
      '# written by pgvigil sandbox',
      'local all all trust',
      'local replication all trust',
      ...networks.flatMap((n) => [`host all all ${n} ${method}`, `host replication all ${n} ${method}`]),
    ].join('\n');
    await this.writeOwned('pg_hba.conf', `${hba}\n`);
  }

  private async writeOwned(name: string, text: string): Promise<void> {
    const file = join(this.dataDir, name);
    await writeFile(file, text, { mode: 0o600 });
    await chownTo(file, this.osUser);
  }

  /** The postmaster's pid from postmaster.pid, or undefined when there is no such file. */
  async postmasterPid(): Promise<number | undefined> {
    try {
      const text = await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8');
      const pid = Number(text.split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** True when postmaster.pid names a live process. */
  async isRunning(): Promise<boolean> {
    const pid = await this.postmasterPid();
    if (pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  /** Starts the server and waits until it accepts connections. */
  async start(timeoutSecs = 60): Promise<void> {
    await mkdir(join(this.logFile, '..'), { recursive: true });
    await writeFile(this.logFile, '', { flag: 'a' });
    await chownTo(this.logFile, this.osUser);
    const r = await this.bin('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(timeoutSecs), 'start'], { timeoutMs: (timeoutSecs + 10) * 1000 });
    if (r.code !== 0) {
      const log = await this.logTail();
      throw new Error(`pg_ctl start failed for ${this.dataDir} (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}\n${log}`);
    }
    await this.waitReady(timeoutSecs * 1000);
  }

  /** Stops the server with pg_ctl; a no-op when it is not running. */
  async stop(mode: StopMode = 'fast', timeoutSecs = 60): Promise<void> {
    if (!(await this.isRunning())) return;
    const r = await this.bin('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', String(timeoutSecs), 'stop'], { timeoutMs: (timeoutSecs + 10) * 1000 });
    if (r.code !== 0 && (await this.isRunning())) {
      throw new Error(`pg_ctl stop -m ${mode} failed for ${this.dataDir} (exit ${r.code}): ${r.stderr.trim()}`);
    }
  }

  /** Kills the postmaster with SIGKILL (a crash), leaving postmaster.pid behind. */
  async kill9(): Promise<void> {
    const pid = await this.postmasterPid();
    if (pid === undefined || !(await this.isRunning())) return;
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until the server answers `SELECT 1`; throws with the log tail on timeout. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        await this.query('SELECT 1');
        return;
      } catch (error) {
        last = error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`PostgreSQL on port ${this.port} not ready after ${timeoutMs} ms: ${String(last)}\n${await this.logTail()}`);
  }

  /** Runs one SQL statement on a new session and returns its rows. */
  async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<R[]> {
    const client = new pg.Client({
      host: this.host,
      port: this.port,
      user: this.superuser,
      database,
      connectionTimeoutMillis: 5000,
      ...(this.options.superuserPassword !== undefined ? { password: this.options.superuserPassword } : {}),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      // A failed connect can leave the socket open; without this a retry loop exhausts max_connections.
      await client.end().catch(() => undefined);
      throw error;
    }
    try {
      const result = await client.query<R>(sql, params);
      return result.rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The last lines of the server log (for error messages). */
  async logTail(lines = 20): Promise<string> {
    try {
      return (await readFile(this.logFile, 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Stops the server (immediate) and removes its data directory and log. */
  async destroy(): Promise<void> {
    try {
      await this.stop('immediate', 20);
    } catch {
      await this.kill9();
    }
    await rm(this.dataDir, { recursive: true, force: true });
    await rm(this.logFile, { force: true });
  }
}

/** True when `dir` exists and holds a PostgreSQL cluster (PG_VERSION). */
export async function isDataDirectory(dir: string): Promise<boolean> {
  try {
    await stat(join(dir, 'PG_VERSION'));
    return true;
  } catch {
    return false;
  }
}
