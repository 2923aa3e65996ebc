/**
 * The pure decision engine (docs/decision-engine.md). `decide(snapshot, now)` is the only entry point callers
 * need; the helpers are exported for `cluster explain` and tests.
 */
export { decide } from './decide.js';
export { NO_LEASE_RVN, observeLease, type LeaseView } from './lease.js';
export { buildContext, formatDuration, formatTime, type EngineContext, type NodeView } from './freshness.js';
