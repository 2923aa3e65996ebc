/**
 * Idle sessions whose loss wakes the monitoring loop at once (docs/agent.md, "Waking early").
 *
 * A backend exits as soon as its postmaster dies ("terminating connection due to unexpected
 * postmaster exit"), and a server that is stopped or restarted closes it too. Kept to the local
 * server, it reports a crash of this node's own server within milliseconds instead of at the next
 * monitoring interval; kept to the cluster's primary ({@link UpstreamWatch}), it lets a standby or
 * the witness report the primary unreachable just as fast. A lost session only runs the next check
 * sooner: what the check finds is reported as any check's result.
 */
import { close, connect, type Session } from '../../adapters/pg-session.js';

export class LocalServerWatch {
  private session: Session | undefined;
  private opening = false;
  private closed = false;

  constructor(
    private readonly conninfo: string,
    private readonly timeoutMs: number,
    /** The session was lost (the server died, stopped or restarted). */
    private readonly onLost: () => void,
    /** An attempt to open the session failed. */
    private readonly onOpenFailed: (error: Error) => void = () => undefined,
  ) {}

  /**
   * Opens the session unless it is open, being opened, or the watch was closed; says whether an
   * attempt started.
   */
  open(): boolean {
    if (this.session || this.opening || this.closed) return false;
    this.opening = true;
    connect(this.conninfo, this.timeoutMs)
      .then((session) => {
        if (this.closed) return close(session);
        this.session = session;
        const lost = (): void => {
          if (this.session !== session) return;
          this.session = undefined;
          void close(session);
          this.onLost();
        };
        session.on('end', lost);
        session.on('error', lost);
        return undefined;
      })
      .catch((error: Error) => this.onOpenFailed(error))
      .finally(() => {
        this.opening = false;
      });
    return true;
  }

  /** The open session (the lag sampler runs its statement on it), if there is one. */
  get current(): Session | undefined {
    return this.session;
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    await close(session);
  }
}

export interface UpstreamWatchOptions {
  timeoutMs: number;
  /** The least time between two attempts to open the session (a session that keeps dropping wakes the loop no more often). */
  reopenMs: number;
  /** After a failed attempt (no credentials for the upstream, say), the next one waits this long. */
  retryAfterFailureMs: number;
  monotonic: () => number;
  onLost: () => void;
  /** Told once per upstream when the session cannot be opened (the loop then sees a crash at its next check). */
  onOpenFailed: (conninfo: string, error: Error) => void;
}

/**
 * The idle session to the server this node watches, following it as it changes (a failover, a
 * switchover): the monitoring loop tells it the upstream's conninfo after each check that reached
 * it, and nothing when there is no upstream to watch.
 */
export class UpstreamWatch {
  private current: { conninfo: string; watch: LocalServerWatch; lastAttemptMono: number; failedMono: number | null; told: boolean } | undefined;

  constructor(private readonly options: UpstreamWatchOptions) {}

  /** Watches `conninfo` (opening the session when it is not open), or nothing when undefined. */
  follow(conninfo: string | undefined): void {
    const o = this.options;
    if (this.current && this.current.conninfo !== conninfo) {
      void this.current.watch.close();
      this.current = undefined;
    }
    if (conninfo === undefined) return;
    if (!this.current) {
      const target = {
        conninfo,
        lastAttemptMono: -Infinity,
        failedMono: null as number | null,
        told: false,
        watch: new LocalServerWatch(conninfo, o.timeoutMs, o.onLost, (error) => {
          target.failedMono = o.monotonic();
          if (target.told) return;
          target.told = true;
          o.onOpenFailed(conninfo, error);
        }),
      };
      this.current = target;
    }
    const c = this.current;
    const now = o.monotonic();
    if (now - c.lastAttemptMono < o.reopenMs) return;
    if (c.failedMono !== null && now - c.failedMono < o.retryAfterFailureMs) return;
    if (c.watch.open()) {
      c.lastAttemptMono = now;
      c.failedMono = null;
    }
  }

  async close(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.watch.close();
  }
}
