import { describe, expect, it } from 'vitest';
import { FLIGHT_RECORDER_REPEAT_MS, decisionDigest, worthKeeping, type LastKept } from '../../core/flight-recorder.js';

const wait = { code: 'wait' as const, reasons: ['The primary node 1 is silent; its lease was first seen 5 s ago.'] };
const kept = (decision: { code: LastKept['code']; reasons: string[] }, at: number): LastKept => ({ code: decision.code, digest: decisionDigest(decision), at });

describe('worthKeeping', () => {
  it('keeps the first decision that is not healthy', () => {
    expect(worthKeeping(undefined, wait, 1_000)).toBe(true);
  });

  it('does not keep a healthy decision when nothing unhealthy came before it', () => {
    expect(worthKeeping(undefined, { code: 'healthy', reasons: ['ok'] }, 1_000)).toBe(false);
    expect(worthKeeping(kept({ code: 'healthy', reasons: ['ok'] }, 0), { code: 'healthy', reasons: ['ok'] }, 1_000)).toBe(false);
  });

  it('keeps the healthy decision that ends a run of unhealthy ones', () => {
    expect(worthKeeping(kept(wait, 0), { code: 'healthy', reasons: ['ok'] }, 1_000)).toBe(true);
  });

  it('does not keep the same decision again within the repeat interval, and keeps it after', () => {
    expect(worthKeeping(kept(wait, 0), wait, FLIGHT_RECORDER_REPEAT_MS - 1)).toBe(false);
    expect(worthKeeping(kept(wait, 0), wait, FLIGHT_RECORDER_REPEAT_MS)).toBe(true);
  });

  it('keeps a decision whose code or sentences changed at once', () => {
    expect(worthKeeping(kept(wait, 0), { ...wait, reasons: ['The primary node 1 is silent; its lease was first seen 6 s ago.'] }, 1)).toBe(true);
    expect(worthKeeping(kept(wait, 0), { code: 'failover', reasons: wait.reasons }, 1)).toBe(true);
  });
});
