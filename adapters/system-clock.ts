/** The real clock, for adapters and Lambda handlers (core/ gets time as an argument instead). */
import type { Clock } from '../core/ports.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};
