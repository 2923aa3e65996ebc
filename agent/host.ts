/**
 * The host side of the agent: running PostgreSQL's binaries and the service commands, and writing
 * files in the data directory as the directory's owner. The agent normally runs as `postgres`
 * under systemd; when it runs as root (tests, the sandbox), PostgreSQL binaries are run with the
 * data directory owner's uid/gid, because PostgreSQL refuses root.
 */
import { spawn } from 'node:child_process';
import { access, chown, constants, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PgvigilError } from '../core/errors.js';
import { DEFAULT_PG_BINDIR, lookupOsUser, runAs, runningAsRoot, type OsUser, type RunResult } from '../shell/run-as.js';

export type { RunResult };

/** The OS user PostgreSQL runs as for this data directory: its owner (or `postgres` when root owns it). */
export async function dataDirOwner(dataDir: string): Promise<OsUser> {
  for (const path of [dataDir, dirname(dataDir)]) {
    try {
      const s = await stat(path);
      if (s.uid !== 0) return { name: 'postgres', uid: s.uid, gid: s.gid, home: lookupHome(s.uid) };
    } catch {
      // try the parent
    }
  }
  return lookupOsUser('postgres');
}

function lookupHome(uid: number): string {
  try {
    const pgUser = lookupOsUser('postgres');
    if (pgUser.uid === uid) return pgUser.home;
  } catch {
    // no postgres user
  }
  return '/';
}

export function pgBin(bindir: string, name: string): string {
  return join(bindir || DEFAULT_PG_BINDIR, name);
}

/** Runs a PostgreSQL binary as the data directory's owner. */
export async function runPgBinary(bindir: string, dataDir: string, name: string, args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
  const user = await dataDirOwner(dataDir);
  try {
    return await runAs(pgBin(bindir, name), args, { user, timeoutMs, env: { LC_ALL: 'C' } });
  } catch (error) {
    throw new PgvigilError('LOCAL_COMMAND', `cannot run ${name}: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs a service_*_command through the shell (as the agent's own user). */
export async function runShell(command: string, timeoutMs: number): Promise<RunResult> {
  return runAs('/bin/sh', ['-c', command], { timeoutMs });
}

/**
 * Runs a user's command through the shell (failover_validation_command, event_notification_command):
 * stdout and stderr together, only their last 4000 characters kept; killed with everything it started
 * at `timeoutMs` (code null).
 * A command that cannot start at all answers 127, as the shell would.
 */
export function runShellCapped(command: string, timeoutMs: number, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // A process group of its own, so that the time limit ends what the shell started too.
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, output: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? null : code, output });
    });
  });
}

/** Writes a file into the data directory atomically, owned by the directory's owner, mode 0600. */
export async function writeDataFile(dataDir: string, name: string, text: string): Promise<void> {
  const file = join(dataDir, name);
  const tmp = `${file}.pgvigil-tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  if (runningAsRoot()) {
    const owner = await dataDirOwner(dataDir);
    await chown(tmp, owner.uid, owner.gid);
  }
  await rename(tmp, file);
}

export async function readDataFile(dataDir: string, name: string): Promise<string | undefined> {
  try {
    return await readFile(join(dataDir, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function removeDataFile(dataDir: string, name: string): Promise<boolean> {
  try {
    await unlink(join(dataDir, name));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Throws repmgr's error (docs/cli.md, exit codes) for a data directory that does not exist or holds no cluster. */
export async function requireDataDirectory(dataDir: string): Promise<void> {
  if (!(await exists(dataDir))) {
    throw new PgvigilError('BAD_CONFIG', `data directory "${dataDir}" does not exist`, {
      hint: 'check "data_directory" in the configuration file',
    });
  }
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    throw new PgvigilError('BAD_CONFIG', `"${dataDir}" is not a PostgreSQL data directory (no PG_VERSION file)`, {
      hint: 'check "data_directory" in the configuration file, or clone the node with "standby clone"',
    });
  }
}
