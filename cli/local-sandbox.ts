/**
 * The local sandbox as the operator commands' target when nothing else is given: `pgvigil cluster
 * show` in a fresh shell, next to a running `pgvigil sandbox up`, works without pasting the
 * `export` line the sandbox prints.
 *
 * "Nothing else given" means nothing that says where AWS is: no configuration file (`-f`,
 * PGVIGIL_CONFIG, repmgr's default locations), no AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB,
 * no AWS_REGION / AWS_DEFAULT_REGION, no AWS_PROFILE / AWS_CONFIG_FILE, and no ~/.aws/config.
 * Without any of those the AWS SDK could not reach AWS anyway (it has no region), so using the
 * sandbox never takes the place of a real deployment. Credentials alone do not count: they do not
 * say where to go.
 *
 * The sandbox is the one in PGVIGIL_SANDBOX_DIR, else `sandbox up`'s default directory. It is used
 * when its `sandbox.json` (written by sandbox/index.ts; only read here) says it is ready and the
 * process that runs it is alive (same pid and start time). Otherwise the command stops with an
 * error that says what was looked at and what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PgvigilError } from '../core/errors.js';

/** `sandbox up`'s directory when neither --dir nor PGVIGIL_SANDBOX_DIR is given. */
export const DEFAULT_SANDBOX_DIR = '/tmp/pgvigil-sandbox';
const STATE_FILE = 'sandbox.json';

/** The environment variables that say where AWS is. */
export const AWS_LOCATION_VARIABLES = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE'] as const;

/** The part of sandbox.json the CLI needs (sandbox/index.ts `SandboxState`). */
export interface RecordedSandbox {
  clusterId: string;
  motoEndpoint: string | null;
  region: string;
  tableName: string | null;
  switchover: { endpoint: string; functionName: string } | null;
  owner: { pid: number; startTime: string | null };
  ready: boolean;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

export function sandboxDirFrom(env: NodeJS.ProcessEnv): string {
  return resolve(nonEmpty(env.PGVIGIL_SANDBOX_DIR) ?? DEFAULT_SANDBOX_DIR);
}

/**
 * What says where AWS is, if anything (for the NOTICE-less path); undefined when nothing does.
 * `configFile` is the file the command reads, if any.
 */
export function awsLocationGiven(env: NodeJS.ProcessEnv, configFile: string | undefined, exists: (path: string) => boolean = existsSync): string | undefined {
  if (configFile !== undefined) return `configuration file ${configFile}`;
  const variable = AWS_LOCATION_VARIABLES.find((k) => nonEmpty(env[k]) !== undefined);
  if (variable) return variable;
  const home = nonEmpty(env.HOME);
  const shared = home ? join(home, '.aws', 'config') : undefined;
  return shared && exists(shared) ? shared : undefined;
}

/** Reads `DIR/sandbox.json`; undefined when there is none. A file that is not one is an error naming it. */
export function readRecordedSandbox(dir: string): RecordedSandbox | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  const bad = (why: string): PgvigilError =>
    new PgvigilError('BAD_CONFIG', `${file} is not a pgvigil sandbox state file`, { detail: why, hint: `remove it with "pgvigil sandbox down --dir ${dir}"` });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw bad((error as Error).message);
  }
  const s = raw as Partial<Record<keyof RecordedSandbox, unknown>> | null;
  const owner = s?.owner as { pid?: unknown; startTime?: unknown } | undefined;
  const switchover = s?.switchover as { endpoint?: unknown; functionName?: unknown } | null | undefined;
  if (
    typeof s?.clusterId !== 'string' ||
    typeof s.region !== 'string' ||
    !(s.motoEndpoint === null || typeof s.motoEndpoint === 'string') ||
    !(s.tableName === null || typeof s.tableName === 'string') ||
    typeof s.ready !== 'boolean' ||
    typeof owner?.pid !== 'number' ||
    !(owner.startTime === null || typeof owner.startTime === 'string')
  ) {
    throw bad('expected clusterId, region, motoEndpoint, tableName, ready and owner.pid/startTime');
  }
  const served = switchover && typeof switchover.endpoint === 'string' && typeof switchover.functionName === 'string' ? { endpoint: switchover.endpoint, functionName: switchover.functionName } : null;
  return {
    clusterId: s.clusterId,
    motoEndpoint: s.motoEndpoint,
    region: s.region,
    tableName: s.tableName,
    switchover: served,
    owner: { pid: owner.pid, startTime: owner.startTime },
    ready: s.ready,
  };
}

/**
 * A process's start time (field 22 of /proc/PID/stat, as sandbox/supervisor.ts records it), or
 * null when no such process runs. Where /proc is absent, any live process with that pid counts.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    if (existsSync('/proc/self')) return null;
    try {
      process.kill(pid, 0);
      return 'unknown';
    } catch {
      return null;
    }
  }
}

/** The sandbox the commands will use: the environment that points at it, and the NOTICE to print. */
export interface SandboxTarget {
  env: NodeJS.ProcessEnv;
  notice: string;
}

/**
 * The environment pointing at the running sandbox in `dir` (the same settings as the `export` line
 * `sandbox up` prints, with the sandbox's cluster and table), or an error explaining why there is
 * none. PGVIGIL_CLUSTER_ID and PGVIGIL_TABLE already set are kept.
 */
export function useRunningSandbox(env: NodeJS.ProcessEnv, startTime: (pid: number) => string | null = processStartTime): SandboxTarget {
  const dir = sandboxDirFrom(env);
  const where = `no configuration file (-f, PGVIGIL_CONFIG, ./repmgr.conf, /etc/pgvigil/repmgr.conf, /etc/repmgr.conf) and no AWS_REGION, AWS_ENDPOINT_URL or AWS_PROFILE`;
  const state = readRecordedSandbox(dir);
  if (!state) {
    throw new PgvigilError('BAD_CONFIG', `no AWS settings given and no sandbox running in ${dir}`, {
      detail: where,
      hint:
        'for a deployed pgvigil set AWS_REGION (and AWS_PROFILE or credentials) or give its repmgr.conf with -f; ' +
        'for the local sandbox run "pgvigil sandbox up" (or set PGVIGIL_SANDBOX_DIR to the --dir it was started with)',
    });
  }
  const now = startTime(state.owner.pid);
  const alive = now !== null && (state.owner.startTime === null || now === 'unknown' || now === state.owner.startTime);
  if (!alive) {
    throw new PgvigilError('BAD_CONFIG', `no AWS settings given, and the sandbox recorded in ${dir} is not running`, {
      detail: `its process (pid ${state.owner.pid}) has ended; ${where}`,
      hint: `clean it up with "pgvigil sandbox down --dir ${dir}", then start one with "pgvigil sandbox up"`,
    });
  }
  if (!state.ready || !state.motoEndpoint || !state.tableName) {
    throw new PgvigilError('BAD_CONFIG', `no AWS settings given, and the sandbox in ${dir} is still starting`, {
      detail: `its process (pid ${state.owner.pid}) has not finished "sandbox up" yet`,
      hint: 'wait until "pgvigil sandbox up" says the sandbox is up ("pgvigil sandbox status" shows it), then run the command again',
    });
  }
  const next: NodeJS.ProcessEnv = {
    ...env,
    AWS_ENDPOINT_URL: state.motoEndpoint,
    AWS_REGION: state.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    ...(state.switchover ? { AWS_ENDPOINT_URL_LAMBDA: state.switchover.endpoint, PGVIGIL_SWITCHOVER_FUNCTION: state.switchover.functionName } : {}),
    PGVIGIL_CLUSTER_ID: nonEmpty(env.PGVIGIL_CLUSTER_ID) ?? state.clusterId,
    PGVIGIL_TABLE: nonEmpty(env.PGVIGIL_TABLE) ?? state.tableName,
    PGVIGIL_SANDBOX_DIR: dir,
  };
  delete next.AWS_SESSION_TOKEN;
  return {
    env: next,
    notice: `no AWS settings given: using the sandbox running in ${dir} (pid ${state.owner.pid}, emulated AWS at ${state.motoEndpoint}, its cluster "${state.clusterId}")`,
  };
}
