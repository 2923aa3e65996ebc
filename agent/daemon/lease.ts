/**
 * The primary's lease on a path of its own (docs/agent.md, "Lease and fencing").
 *
 * {@link LeaseRenewer} sends the renewals: its own loop and its own attempts in flight, through its
 * own DynamoDB client (agent/store.ts `createLeaseStore`), never queued behind a heartbeat, an event
 * or a history sample. An attempt starts every `renewEveryMs` without waiting for the earlier ones,
 * and each ends within `attemptLimitMs` whatever the network does (it is aborted, its connection
 * closed). It needs only the term and the primary of the cluster record; a refused renewal is what
 * tells it the record moved on, and only then does it read the record again.
 *
 * {@link LeaseGuard} judges the lease on the monotonic clock with a timer of its own set to the
 * moment the fence must start, so the fence does not wait for the next monitoring tick.
 */
import { randomBytes } from 'node:crypto';
import type { ClusterStateStore } from '../../core/ports.js';
import { attemptWithin, type Attempt } from '../attempt.js';
import type { Logger } from '../log.js';
import { judgeLease, leaseView, mayRenewOn, newerView, type LeaseGround, type LeaseTimings, type LeaseVerdict, type LeaseView } from './policy.js';

/** Attempts in flight at most: a stalled endpoint gets a few queued renewals, not a flood. */
export const MAX_IN_FLIGHT = 3;

/** The store calls the lease path makes. */
export type LeaseStore = Pick<ClusterStateStore, 'renewLease' | 'load'>;

export interface LeaseRenewerDeps {
  store: LeaseStore;
  clusterId: string;
  nodeId: number;
  timings: LeaseTimings;
  log: Logger;
  /** Wall clock (ms since the epoch): the lease's `renewed_at`. */
  now: () => number;
  monotonic: () => number;
  /** May this node renew now: its server answers as a primary and is neither fenced nor being fenced. */
  eligible: () => boolean;
  /** A renewal succeeded; `sentMono` is when it was sent (the controller may have seen it any time after). */
  onRenewed: (sentMono: number) => void;
}

export interface LeaseRenewalStats {
  renewals: number;
  refusals: number;
  /** Attempts that failed, including the abandoned ones. */
  failures: number;
  /** Attempts abandoned at the time limit. */
  abandoned: number;
  /** Round trip of the latest successful renewal, ms. */
  lastMs: number | null;
  /** Longest successful round trip so far, ms. */
  maxMs: number;
  /** When the latest successful renewal was sent (monotonic ms), null before the first. */
  lastSentMono: number | null;
}

export class LeaseRenewer {
  private view: LeaseView | null = null;
  /** A renewal was refused since the record was last read: read it before renewing again. */
  private stale = false;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeSleeper: (() => void) | undefined;
  private readonly inFlight = new Set<AbortController>();
  private reading: Promise<void> | undefined;
  readonly stats: LeaseRenewalStats = { renewals: 0, refusals: 0, failures: 0, abandoned: 0, lastMs: null, maxMs: 0, lastSentMono: null };

  constructor(private readonly deps: LeaseRenewerDeps) {}

  /** The last record seen names this node as primary and no renewal has been refused since. */
  holds(): boolean {
    return !this.stale && this.view?.primaryNodeId === this.deps.nodeId;
  }

  /** The term of the last record seen. */
  get term(): number | null {
    return this.view?.term ?? null;
  }

  /** A read of the cluster record made elsewhere (the heartbeat publisher's): the newer one is kept. */
  observe(cluster: Parameters<typeof leaseView>[0]): void {
    this.view = newerView(this.view, leaseView(cluster));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Renew now instead of at the next interval (the server has just become a primary). */
  poke(): void {
    this.wakeSleeper?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const c of this.inFlight) c.abort(new Error('the agent is stopping'));
    this.poke();
    await this.loopDone;
    await this.reading;
  }

  /**
   * Starts an attempt every `renewEveryMs` (at once when poked), without waiting for the ones in
   * flight: a request caught by a blip hangs on its dead connection while the next one goes out on
   * a new one, and a request the endpoint is merely slow to answer keeps its place in the queue
   * until its time limit. At most {@link MAX_IN_FLIGHT} at once.
   */
  private async loop(): Promise<void> {
    while (this.running) {
      try {
        this.next();
      } catch (error) {
        // next() handles the store's failures itself; this is a bug, and the lease must go on.
        this.deps.log.log('ERROR', 'lease renewal failed to start', { error: String(error) });
      }
      await this.sleep(this.deps.timings.renewEveryMs);
    }
  }

  private next(): void {
    const { nodeId } = this.deps;
    if (!this.deps.eligible()) return;
    if (this.stale || !mayRenewOn(this.view, nodeId)) {
      // A refusal, or the last record seen names another primary and another candidate (or none
      // was seen): this node may just have been promoted. Read it on this path rather than wait
      // for the publisher's read.
      this.reading ??= this.refresh().finally(() => (this.reading = undefined));
      return;
    }
    if (this.inFlight.size >= MAX_IN_FLIGHT) return;
    void this.renew(this.view.term);
  }

  private async renew(term: number): Promise<void> {
    const sent = this.deps.monotonic();
    const rvn = randomBytes(12).toString('hex');
    const r = await this.attempt((abortSignal) => this.deps.store.renewLease(this.deps.clusterId, this.deps.nodeId, term, rvn, this.deps.now(), { abortSignal }));
    const ms = Math.round(this.deps.monotonic() - sent);
    if (r.ok && r.value.ok) {
      this.stats.renewals++;
      this.stats.lastMs = ms;
      this.stats.maxMs = Math.max(this.stats.maxMs, ms);
      this.stats.lastSentMono = Math.max(this.stats.lastSentMono ?? -Infinity, sent);
      this.deps.onRenewed(sent);
      this.deps.log.log('DEBUG', 'lease renewed', { term, ms });
    } else if (r.ok) {
      this.stats.refusals++;
      this.deps.log.log('WARNING', 'lease renewal refused: the cluster record changed', { term });
      // Read the record before the next renewal: still this node's at a newer term (a
      // switchover's claim raises the term before the candidate takes over), it renews at once
      // with it; another node's, it renews no more and the lease runs out.
      if (this.view?.term === term) this.stale = true;
      this.poke();
    } else {
      this.stats.failures++;
      if (r.abandoned) this.stats.abandoned++;
      if (this.running) this.deps.log.log('WARNING', r.abandoned ? 'lease renewal abandoned at its time limit' : 'lease renewal failed', { term, ms, error: r.error });
    }
  }

  /** Reads the cluster record on the lease path, within the attempt limit. */
  private async refresh(): Promise<void> {
    const r = await this.attempt((abortSignal) => this.deps.store.load(this.deps.clusterId, { abortSignal }));
    if (!r.ok) {
      if (this.running) this.deps.log.log('WARNING', 'unable to read the cluster record for the lease', { error: r.error, abandoned: r.abandoned });
      return;
    }
    if (r.value) this.view = newerView(this.view, leaseView(r.value.snapshot.cluster));
    this.stale = false;
    if (mayRenewOn(this.view, this.deps.nodeId)) this.poke();
  }

  /** Runs one request within the attempt limit; stop() aborts the ones in flight. */
  private async attempt<T>(request: (abortSignal: AbortSignal) => Promise<T>): Promise<Attempt<T>> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    try {
      return await attemptWithin(request, this.deps.timings.attemptLimitMs, controller);
    } finally {
      this.inFlight.delete(controller);
    }
  }

  private async sleep(ms: number): Promise<void> {
    if (!this.running) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(this.sleepTimer);
        this.wakeSleeper = undefined;
        resolve();
      };
      this.wakeSleeper = done;
      this.sleepTimer = setTimeout(done, ms);
    });
  }
}

export interface LeaseGuardDeps {
  timings: LeaseTimings;
  monotonic: () => number;
  /** The lease is lost: fence now. Called again on each check while the lease stays lost. */
  onLost: (why: string) => void;
}

/**
 * Holds the lease's facts and fires {@link LeaseGuardDeps.onLost} when the fence must start: from a
 * timer set to that moment, and from {@link check} (the monitoring tick calls it too).
 */
export class LeaseGuard {
  private primarySinceMono: number | null = null;
  private readonly grounds = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: LeaseGuardDeps) {}

  /** The local server runs as a primary at `mono`; its lease clock starts then, if it was not one already. */
  primaryAt(mono: number): void {
    if (this.primarySinceMono !== null) return;
    this.primarySinceMono = mono;
    this.check();
  }

  /** The local server is not (or no longer) a primary: nothing to fence. */
  notPrimary(): void {
    this.primarySinceMono = null;
    this.grounds.clear();
    clearTimeout(this.timer);
  }

  get isPrimary(): boolean {
    return this.primarySinceMono !== null;
  }

  /** The latest moment the lease stands from (a ground, or becoming primary); null when not a primary. */
  latestGroundMono(): number | null {
    if (this.primarySinceMono === null) return null;
    return Math.max(this.primarySinceMono, ...this.grounds.values());
  }

  /**
   * The lease stands from `sinceMono` on because of `source` (a renewal sent then, …): the fence moves
   * to `lease_secs` after it. This is where another reason to keep serving plugs in.
   */
  extend(source: string, sinceMono: number): void {
    if (this.primarySinceMono === null) return;
    this.grounds.set(source, Math.max(this.grounds.get(source) ?? -Infinity, sinceMono));
    this.check();
  }

  verdict(mono = this.deps.monotonic()): LeaseVerdict {
    const grounds: LeaseGround[] = [...this.grounds].map(([source, sinceMono]) => ({ source, sinceMono }));
    return judgeLease({ primarySinceMono: this.primarySinceMono, grounds }, this.deps.timings, mono);
  }

  /** Judges the lease now: fences when it is lost, else sets the timer to the moment it would be. */
  check(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const mono = this.deps.monotonic();
    const v = this.verdict(mono);
    if (v.state === 'lost') this.deps.onLost(v.why);
    else if (v.state === 'held') this.timer = setTimeout(() => this.check(), Math.max(0, v.fenceAtMono - mono));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
