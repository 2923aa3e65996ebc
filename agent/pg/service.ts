/**
 * Controls the local server: start, stop, restart, reload, promote. Uses the configured
 * `service_*_command` when set (e.g. `sudo systemctl start postgresql@15-main`), else pg_ctl on the
 * data directory, as repmgr does.
 */
import { readFile } from 'node:fs/promises';
import { PgvigilError } from '../../core/errors.js';
import type { AgentConfig } from '../config.js';
import { runPgBinary, runShell } from '../host.js';
import { postmasterStatus, removeStaleLockFile } from './local.js';

export type ServiceConfig = Pick<
  AgentConfig,
  | 'data_directory'
  | 'pg_bindir'
  | 'service_start_command'
  | 'service_stop_command'
  | 'service_restart_command'
  | 'service_reload_command'
  | 'shutdown_check_timeout'
>;

export class LocalService {
  constructor(private readonly config: ServiceConfig) {}

  /** The log file pg_ctl writes to when it starts the server. */
  get logFile(): string {
    return `${this.config.data_directory}.log`;
  }

  async running(): Promise<boolean> {
    return (await postmasterStatus(this.config.data_directory)).running;
  }

  /** Starts the server and waits until pg_ctl reports it started (or the start command returns). */
  async start(timeoutSecs = 60): Promise<void> {
    await removeStaleLockFile(this.config.data_directory);
    if (await this.running()) return;
    const r = this.config.service_start_command
      ? await runShell(this.config.service_start_command, timeoutSecs * 1000 + 10_000)
      : await runPgBinary(this.config.pg_bindir, this.config.data_directory, 'pg_ctl', ['-D', this.config.data_directory, '-l', this.logFile, '-w', '-t', String(timeoutSecs), 'start'], timeoutSecs * 1000 + 10_000);
    if (r.code !== 0) {
      // pg_ctl says only that the server did not start; why is in the server's own log.
      const log = this.config.service_start_command ? '' : await tailOf(this.logFile, 5);
      const detail = [(r.stderr || r.stdout).trim() || `exit code ${r.code}`, log && `last lines of ${this.logFile}:\n${log}`].filter(Boolean).join('\n');
      throw new PgvigilError('LOCAL_COMMAND', 'unable to start the local PostgreSQL server', { detail });
    }
  }

  /**
   * Stops the server. `fast` falls back to `immediate` and then to SIGKILL of the postmaster when
   * it has not stopped within shutdown_check_timeout, because a stop that must happen (fencing)
   * must not be blocked by a stuck session.
   */
  async stop(mode: 'fast' | 'immediate' = 'fast', timeoutSecs = this.config.shutdown_check_timeout): Promise<void> {
    if (!(await this.running())) return;
    if (this.config.service_stop_command) {
      await runShell(this.config.service_stop_command, timeoutSecs * 1000 + 10_000);
    } else {
      await runPgBinary(this.config.pg_bindir, this.config.data_directory, 'pg_ctl', ['-D', this.config.data_directory, '-m', mode, '-w', '-t', String(timeoutSecs), 'stop'], timeoutSecs * 1000 + 10_000);
      if (mode === 'fast' && (await this.running())) {
        await runPgBinary(this.config.pg_bindir, this.config.data_directory, 'pg_ctl', ['-D', this.config.data_directory, '-m', 'immediate', '-w', '-t', '10', 'stop'], 20_000);
      }
    }
    const status = await postmasterStatus(this.config.data_directory);
    if (status.running && status.pid !== null) {
      try {
        process.kill(status.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      for (let i = 0; i < 100 && (await this.running()); i++) await new Promise((r) => setTimeout(r, 50));
    }
    if (await this.running()) throw new PgvigilError('LOCAL_COMMAND', 'unable to stop the local PostgreSQL server');
    // A postmaster ended by SIGKILL leaves its lock file behind, which blocks the next start.
    await removeStaleLockFile(this.config.data_directory);
  }

  async restart(timeoutSecs = 60): Promise<void> {
    if (this.config.service_restart_command) {
      const r = await runShell(this.config.service_restart_command, timeoutSecs * 1000 + 10_000);
      if (r.code !== 0) throw new PgvigilError('LOCAL_COMMAND', 'unable to restart the local PostgreSQL server', { detail: r.stderr.trim() });
      return;
    }
    await this.stop('fast');
    await this.start(timeoutSecs);
  }

  async reload(): Promise<void> {
    const r = this.config.service_reload_command
      ? await runShell(this.config.service_reload_command, 30_000)
      : await runPgBinary(this.config.pg_bindir, this.config.data_directory, 'pg_ctl', ['-D', this.config.data_directory, 'reload'], 30_000);
    if (r.code !== 0) throw new PgvigilError('LOCAL_COMMAND', 'unable to reload the local PostgreSQL server', { detail: r.stderr.trim() });
  }
}

/** The last `n` lines of a file, or '' when it cannot be read. */
async function tailOf(file: string, n: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
