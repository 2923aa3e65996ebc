/**
 * One idle session to the local server whose loss wakes the monitoring loop at once. A backend
 * exits as soon as its postmaster dies ("terminating connection due to unexpected postmaster
 * exit"), and a server that is stopped or restarted closes it too, so a crash is reported within
 * milliseconds instead of at the next monitoring interval. The daemon opens it again whenever the
 * local server accepts connections.
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
  ) {}

  /** Opens the session unless it is open, being opened, or the watch was closed. */
  open(): void {
    if (this.session || this.opening || this.closed) return;
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
      .catch(() => undefined)
      .finally(() => {
        this.opening = false;
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    await close(session);
  }
}
