/**
 * Failsafe mode's primary side (docs/architecture.md, "Failsafe mode"): while the lease is not being
 * renewed, rounds of signed confirmation requests to every active standby, on a timer of their own
 * (never behind a tick, a heartbeat or a renewal). Every round that leaves a confirmation from every
 * candidate extends the lease from the moment of the oldest of them (failsafe.ts decides).
 */
import type { NodeRecord } from '../../core/model.js';
import { askConfirmation, type AskTarget } from '../api/client.js';
import type { Logger } from '../log.js';
import { failsafeCandidates, failsafeDue, failsafeGround, type FailsafeGround, type HeldConfirmation } from './failsafe.js';
import type { LeaseTimings } from './policy.js';

export interface FailsafePathDeps {
  clusterId: string;
  nodeId: number;
  timings: LeaseTimings;
  log: Logger;
  monotonic: () => number;
  secret: () => Buffer | undefined;
  /** The nodes of the latest cluster read, and the term the lease is renewed at. */
  nodes: () => readonly NodeRecord[];
  term: () => number | null;
  /** May this node ask now: it runs as the primary the record names, not fenced, not refused. */
  eligible: () => boolean;
  /** The latest moment the lease stands from (renewal, confirmations, becoming primary). */
  latestGroundMono: () => number | null;
  /** Where a node's agent API listens. */
  addressOf: (node: NodeRecord) => AskTarget | undefined;
  /** Every candidate confirmed: the lease stands from `sinceMono`. */
  onGround: (sinceMono: number) => void;
}

export class FailsafePath {
  private readonly held = new Map<number, HeldConfirmation>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private running = false;
  /** The latest round's outcome, for the log and `status`. */
  last: FailsafeGround | null = null;

  constructor(private readonly deps: FailsafePathDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.round;
  }

  /** The renewals work again (or the node is no primary): confirmations of an earlier episode are forgotten. */
  reset(): void {
    this.held.clear();
    this.last = null;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      if (!this.round && this.due()) this.round = this.ask().finally(() => (this.round = undefined));
      this.schedule();
    }, this.deps.timings.renewEveryMs);
  }

  private due(): boolean {
    const ground = this.deps.latestGroundMono();
    return this.deps.eligible() && ground !== null && failsafeDue(ground, this.deps.monotonic(), this.deps.timings);
  }

  /** One round: every candidate asked at once, each answer bounded by the attempt limit. */
  async ask(): Promise<void> {
    const secret = this.deps.secret();
    const term = this.deps.term();
    if (!secret || term === null) return;
    const nodes = this.deps.nodes();
    const candidates = failsafeCandidates(nodes, this.deps.nodeId);
    const askedMono = this.deps.monotonic();
    const results = await Promise.all(
      candidates.map(async (id) => {
        const node = nodes.find((n) => n.node_id === id);
        const target = node && this.deps.addressOf(node);
        if (!target) return { id, r: { ok: false as const, why: `node ${id} has no agent API address` } };
        return { id, r: await askConfirmation(target, secret, { cluster_id: this.deps.clusterId, node_id: this.deps.nodeId, term }, this.deps.timings.attemptLimitMs) };
      }),
    );
    for (const { id, r } of results) {
      if (r.ok) this.held.set(id, { nodeId: id, askedMono, candidates: r.candidates });
      else this.deps.log.log('WARNING', 'failsafe confirmation missing', { node: id, why: r.why });
    }
    const ground = failsafeGround(candidates, this.held);
    this.last = ground;
    if (ground.ok) this.deps.onGround(ground.sinceMono);
    else this.deps.log.log('WARNING', 'failsafe does not hold: the lease runs out on time', { why: ground.why });
  }
}
