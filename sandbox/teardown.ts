/**
 * Takes a sandbox down from its directory alone, as after a crash: what it recorded as it came up
 * (processes.json, sandbox.json, network.json) says what to stop and remove.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readNetworkState, teardownNetwork } from './netns.js';
import { readSandboxState } from './state.js';
import { killTree, procStartTime, teardownProcesses, type Supervisor } from './supervisor.js';

/** The pid in a data directory's postmaster.pid, if any. */
export function postmasterPids(dataDir: string): number[] {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? [pid] : [];
  } catch {
    return [];
  }
}

/**
 * Removes a sandbox from its directory alone (also after a crash): every recorded process, every
 * PostgreSQL server (by postmaster.pid), the network, and the directory. Returns what it did.
 */
export async function sandboxDown(dir: string, live: { supervisor?: Supervisor } = {}): Promise<string[]> {
  const done: string[] = [];
  const state = readSandboxState(dir);
  if (live.supervisor) await live.supervisor.stopAll(5000);
  const killed = await teardownProcesses(dir);
  if (killed.length > 0) done.push(`stopped ${killed.length} process${killed.length === 1 ? '' : 'es'}`);
  // Servers started by pg_ctl left every process group; in netns mode the namespaces go below.
  for (const [name, dataDir] of Object.entries(state?.dataDirectories ?? {})) {
    for (const pid of postmasterPids(dataDir)) {
      const stat = procStartTime(pid);
      if (stat === null) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(dataDir)) continue; // a recycled pid: not ours
      killTree(pid);
      done.push(`killed PostgreSQL of ${name}`);
    }
  }
  if (readNetworkState(dir)) {
    await teardownNetwork(dir);
    done.push('removed the network');
  }
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    done.push(`removed ${dir}`);
  }
  return done;
}

