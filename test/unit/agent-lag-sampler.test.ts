/**
 * The lag sampler (agent/daemon/lag-sampler.ts): one statement per period on the session the
 * daemon keeps, never two at once, and none when there is nothing to sample.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../adapters/pg-session.js';
import { LagSampler } from '../../agent/daemon/lag-sampler.js';
import type { LagSample } from '../../agent/pg/local.js';

const SESSION = {} as Session;
const sample = (replay: string): LagSample => ({ in_recovery: true, receive_lsn: '0/3000000', replay_lsn: replay, replication_lag_secs: 0.5 });

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function sampler(opts: { wanted?: () => boolean; session?: () => Session | undefined; run: (s: Session) => Promise<LagSample> }): LagSampler {
  return new LagSampler({ periodMs: 200, monotonic: () => Date.now(), session: opts.session ?? (() => SESSION), wanted: opts.wanted ?? (() => true), sample: opts.run });
}

describe('LagSampler', () => {
  it('takes one sample per period and keeps the latest with when it was sent', async () => {
    let n = 0;
    const s = sampler({ run: async () => sample(`0/${(++n).toString(16)}000000`) });
    const t0 = Date.now();
    s.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.samples).toBe(5);
    expect(s.latest).toEqual({ sample: sample('0/5000000'), sentMono: t0 + 1000 });
    await s.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.samples).toBe(5);
  });

  it('skips a period while a sample is in flight: never two statements at once', async () => {
    let running = 0;
    let most = 0;
    const s = sampler({
      run: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 450));
        running--;
        return sample('0/1000000');
      },
    });
    s.start();
    await vi.advanceTimersByTimeAsync(2000);
    expect(most).toBe(1);
    // Sent at 200, 800, 1400 (each takes 450 ms; the periods that find one in flight are skipped).
    expect(s.samples).toBe(3);
    // The one sent at 2000 is still in flight: stop waits for it.
    const stopped = s.stop();
    await vi.advanceTimersByTimeAsync(450);
    await stopped;
    expect(s.samples).toBe(4);
  });

  it('runs nothing while the node is not a standby or no session is open, and keeps the last sample when one fails', async () => {
    let wanted = false;
    let session: Session | undefined = SESSION;
    let fail = false;
    const run = vi.fn(async () => {
      if (fail) throw new Error('connection lost');
      return sample('0/2000000');
    });
    const s = sampler({ wanted: () => wanted, session: () => session, run });
    s.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).not.toHaveBeenCalled();
    wanted = true;
    session = undefined;
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).not.toHaveBeenCalled();
    session = SESSION;
    await vi.advanceTimersByTimeAsync(200);
    expect(s.samples).toBe(1);
    fail = true;
    await vi.advanceTimersByTimeAsync(400);
    expect(run).toHaveBeenCalledTimes(3);
    expect(s.samples).toBe(1);
    expect(s.latest?.sample).toEqual(sample('0/2000000'));
    await s.stop();
  });
});
