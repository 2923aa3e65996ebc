/**
 * The lag sampler (docs/agent.md, "The HTTP API"): on a standby whose agent serves the API, one
 * tiny statement every `rest_api_lag_sample_ms` reads the received and replayed positions and the
 * replay delay, so `/replica?lag=` answers from figures a fraction of a health-check interval old
 * rather than a monitoring tick old. It runs on the idle session the daemon already keeps to its
 * local server (local-watch.ts), never opens one, and skips a period while a sample is in flight.
 * Requests still run no query: they read the latest sample.
 */
import type { Session } from '../../adapters/pg-session.js';
import { sampleReplayLag, type LagSample } from '../pg/local.js';

export interface LagSamplerOptions {
  periodMs: number;
  monotonic: () => number;
  /** The session kept to the local server, when one is open. */
  session: () => Session | undefined;
  /** Sample now? (the latest tick saw a standby). */
  wanted: () => boolean;
  /** @default sampleReplayLag */
  sample?: (session: Session) => Promise<LagSample>;
}

/** A sample and when its statement was sent (monotonic ms): it shows the server as of then or later. */
export interface TimedLagSample {
  sample: LagSample;
  sentMono: number;
}

export class LagSampler {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private latestSample: TimedLagSample | undefined;
  private completed = 0;

  constructor(private readonly options: LagSamplerOptions) {}

  /** The latest sample taken, if any. */
  get latest(): TimedLagSample | undefined {
    return this.latestSample;
  }

  /** Samples taken so far (for tests and benchmarks, which count them instead of timing them). */
  get samples(): number {
    return this.completed;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.run(), this.options.periodMs);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private run(): void {
    if (this.inFlight || !this.options.wanted()) return;
    const session = this.options.session();
    if (!session) return;
    const sentMono = this.options.monotonic();
    this.inFlight = (this.options.sample ?? sampleReplayLag)(session)
      .then((sample) => {
        this.latestSample = { sample, sentMono };
        this.completed++;
      })
      // A failed sample leaves the previous one, and the tick's probe reports what went wrong.
      .catch(() => undefined)
      .finally(() => (this.inFlight = undefined));
  }
}
