/**
 * Running programs as an OS user. PostgreSQL refuses to run as root, so when this process is root
 * (the sandbox, the tests, an agent started as root) PostgreSQL's binaries are spawned with the
 * uid/gid of an unprivileged user, and what they must own is given to that user. The agent's host
 * side (agent/host.ts) and the sandbox's servers (sandbox/postgres.ts) both run them this way.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chown } from 'node:fs/promises';

/** The default location of the PostgreSQL 15 binaries on Debian/Ubuntu. */
export const DEFAULT_PG_BINDIR = '/usr/lib/postgresql/15/bin';

/** An OS account PostgreSQL binaries run as. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const userCache = new Map<string, OsUser>();

/** Looks up an OS user (uid, gid, home) by name; throws a clear error when it does not exist. */
export function lookupOsUser(name = 'postgres'): OsUser {
  const cached = userCache.get(name);
  if (cached) return cached;
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`OS user "${name}" does not exist (PostgreSQL must run as an unprivileged user)`);
  }
  const parts = line.split(':');
  const user: OsUser = { name, uid: Number(parts[2]), gid: Number(parts[3]), home: parts[5] ?? '/' };
  userCache.set(name, user);
  return user;
}

/** True when this process runs as root and must drop to an unprivileged user for PostgreSQL. */
export function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run as this OS user when the current process is root (ignored otherwise). */
  user?: OsUser | undefined;
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command (SIGKILL) after this many milliseconds. */
  timeoutMs?: number;
  input?: string;
}

/**
 * Runs a command and collects its output; never throws for a non-zero exit (look at `code`).
 * When this process is root and `user` is given, the command runs with that user's uid/gid.
 */
export async function runAs(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const user = options.user;
  const drop = user !== undefined && runningAsRoot();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...(drop ? { HOME: user.home, USER: user.name, LOGNAME: user.name } : {}), ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      cwd: options.cwd ?? (drop ? '/' : undefined),
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(drop ? { uid: user.uid, gid: user.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** Gives a path to `user` (when root) so PostgreSQL can own it. */
export async function chownTo(path: string, user: OsUser): Promise<void> {
  if (runningAsRoot()) await chown(path, user.uid, user.gid);
}
