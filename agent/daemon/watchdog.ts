/**
 * The lease watchdog (docs/agent.md, "The lease watchdog"): a small process beside the agent that
 * stops the local server at the lease's deadline when the agent itself cannot — its process frozen
 * (SIGSTOP, swapped out) or its event loop stalled. The controller promotes another node once the
 * lease has run out on its clock, trusting that the old primary stopped taking writes by then; an
 * agent that is not running its code cannot keep that promise, the watchdog does. Patroni closes
 * the same gap with a watchdog device that resets the node.
 *
 * The agent writes the deadline (ms of /proc/uptime, CLOCK_BOOTTIME, which a process of its own can
 * read without asking the agent) and the term to a file in `agent_state_dir`, atomically, whenever
 * its lease gains a ground and every renewal interval. The watchdog, a bash loop of builtins only
 * (no process started per check), reads it every {@link WATCHDOG_POLL_MS}; past the deadline, a
 * server running without standby.signal gets the fence marker and standby.signal (so any restart
 * comes up read-only) and SIGQUIT (an immediate shutdown: every backend exits at once). It ends
 * when its standard input closes: a dead agent takes its watchdog with it, as systemd does with the
 * unit's processes, so a dead agent is still not a dead database (docs/agent.md).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log.js';

export const WATCHDOG_POLL_MS = 100;

/** Why the respawn waits: a watchdog that cannot start is retried, not spun on. */
const RESPAWN_DELAY_MS = 1000;

/**
 * $1 the deadline file, $2 the data directory. Prints `fenced <pid> <deadline> <uptime>` (ms) on
 * stdout when it stops the server; complaints go to stderr.
 */
export const WATCHDOG_SCRIPT = `
file=$1 pgdata=$2
while :; do
  read -r -t 0.1 _; s=$?
  # End of input: the agent is gone. A time-out is above 128.
  if (( s != 0 && s <= 128 )); then exit 0; fi
  deadline= term=
  { read -r deadline term < "$file"; } 2>/dev/null || continue
  [[ $deadline =~ ^[0-9]+$ && $term =~ ^[0-9]+$ ]] || continue
  read -r up _ < /proc/uptime || continue
  now=$(( 10#\${up%.*} * 1000 + 10#\${up#*.} * 10 ))
  (( now >= deadline )) || continue
  [[ -e $pgdata/standby.signal || -e $pgdata/recovery.signal ]] && continue
  pid=
  { read -r pid < "$pgdata/postmaster.pid"; } 2>/dev/null || continue
  [[ $pid =~ ^[0-9]+$ ]] || continue
  cmd=
  { read -r -d '' cmd < "/proc/$pid/cmdline"; } 2>/dev/null
  [[ $cmd == *postgres* ]] || continue
  if [[ ! -e $pgdata/pgvigil.fence ]]; then
    printf -v secs '%(%s)T' -1
    printf '{"term":%s,"at":%s000,"reason":"lease_lost","created_standby_signal":true}\\n' "$term" "$secs" > "$pgdata/pgvigil.fence" || echo "unable to write the fence marker in $pgdata" >&2
  fi
  : > "$pgdata/standby.signal" || echo "unable to write standby.signal in $pgdata" >&2
  kill -QUIT "$pid" && echo "fenced $pid $deadline $now"
done
`;

/** The file the agent of `nodeId` writes its deadline to. */
export function watchdogDeadlineFile(stateDir: string, nodeId: number): string {
  return join(stateDir, `lease-deadline-${nodeId}`);
}

/** ms since boot, counting suspended time (CLOCK_BOOTTIME, as the watchdog reads it). */
export function uptimeMs(): number {
  const text = readFileSync('/proc/uptime', 'utf8');
  const secs = Number(text.split(' ')[0]);
  if (!Number.isFinite(secs)) throw new Error(`/proc/uptime: unexpected content "${text.slice(0, 40)}"`);
  return secs * 1000;
}

export interface LeaseWatchdogDeps {
  /** The deadline file ({@link watchdogDeadlineFile}). */
  file: string;
  dataDir: string;
  log: Logger;
  monotonic: () => number;
  /** How often the deadline is written again without a change of ground. */
  refreshEveryMs: number;
  /** The deadline now, on the monotonic clock (policy.ts `watchdogDeadlineMono`). */
  deadlineMono: () => number;
  term: () => number;
  /** The watchdog stopped the server. */
  onFenced: (detail: string) => void;
  /** @default {@link uptimeMs} */
  uptimeMs?: () => number;
}

export class LeaseWatchdog {
  private child: ChildProcessWithoutNullStreams | undefined;
  private running = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private writeFailed = false;
  /** What was written last: a primary's deadline moves only with its lease, not on every interval. */
  private written: { deadlineMono: number; term: number } | undefined;

  constructor(private readonly deps: LeaseWatchdogDeps) {}

  /** Writes the current deadline (a deadline from an earlier run must not stop the server), then starts the watchdog. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.written = undefined;
    this.refresh();
    this.spawn();
    this.refreshTimer = setInterval(() => this.refresh(), this.deps.refreshEveryMs);
  }

  /**
   * Writes the deadline now. Synchronous, so two writes never land out of order; the rename makes
   * each whole for the watchdog's read.
   */
  refresh(): void {
    if (!this.running) return;
    const { deps } = this;
    try {
      const deadlineMono = deps.deadlineMono();
      const term = deps.term();
      if (this.written?.deadlineMono === deadlineMono && this.written.term === term) return;
      const at = Math.floor(deps.uptimeMs?.() ?? uptimeMs()) + Math.floor(deadlineMono - deps.monotonic());
      const tmp = `${deps.file}.tmp`;
      writeFileSync(tmp, `${Math.max(0, at)} ${term}\n`);
      renameSync(tmp, deps.file);
      this.written = { deadlineMono, term };
      if (this.writeFailed) deps.log.log('NOTICE', 'lease watchdog deadline written again', { file: deps.file });
      this.writeFailed = false;
    } catch (error) {
      // The watchdog then acts on the last deadline written: it stops the server early, never late.
      if (!this.writeFailed) deps.log.log('ERROR', 'unable to write the lease watchdog deadline', { file: deps.file, error: String(error) });
      this.writeFailed = true;
    }
  }

  /** Ends the watchdog (a stopping agent leaves its server running, docs/agent.md). */
  stop(): void {
    this.running = false;
    clearInterval(this.refreshTimer);
    clearTimeout(this.respawnTimer);
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  /** The watchdog's pid while it runs (tests, status). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawn(): void {
    const { deps } = this;
    const child = spawn('bash', ['-c', WATCHDOG_SCRIPT, 'pgvigil-lease-watchdog', deps.file, deps.dataDir], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.on('error', (error) => this.ended(child, 'the lease watchdog failed: a frozen agent would not be fenced at its deadline', { error: String(error) }));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [word, pid, deadline, now] = line.split(' ');
      if (word !== 'fenced') return;
      const late = Number(now) - Number(deadline);
      deps.onFenced(`the lease watchdog stopped the server (postmaster pid ${pid}) ${Number.isFinite(late) ? `${late} ms after` : 'at'} the lease's deadline: the agent did not renew the lease or vouch for its server in time (frozen or stalled)`);
    });
    createInterface({ input: child.stderr }).on('line', (line) => deps.log.log('WARNING', 'lease watchdog', { message: line }));
    child.on('exit', (code, signal) => this.ended(child, 'the lease watchdog ended', { code, signal }));
  }

  /** A watchdog that ends while the agent runs is started again. */
  private ended(child: ChildProcessWithoutNullStreams, msg: string, fields: Record<string, unknown>): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (!this.running) return;
    this.deps.log.log('ERROR', `${msg}; starting it again`, fields);
    this.respawnTimer = setTimeout(() => {
      if (this.running) this.spawn();
    }, RESPAWN_DELAY_MS);
  }
}
