import { describe, expect, it } from 'vitest';
import { firstAckAfter, maxWritablePrimaries, writeOutageMs, type WriteAttempt } from '../../sandbox/writers.js';

function acked(...times: number[]): WriteAttempt[] {
  return times.map((t, i) => ({ id: i + 1, sentAt: t - 5, ackedAt: t, error: null }));
}

describe('writeOutageMs', () => {
  it('measures the gap that straddles the fault from the last acknowledgement before it', () => {
    expect(writeOutageMs(acked(0, 50, 100, 2100, 2150), 120, 3000)).toBe(2000);
  });

  it('lasts until the end of the window when no write was acknowledged after the fault', () => {
    expect(writeOutageMs(acked(0, 50, 100), 120, 3000)).toBe(2900);
  });

  it('ignores failed writes and acknowledgements after the window', () => {
    const attempts: WriteAttempt[] = [...acked(0, 100), { id: 9, sentAt: 500, ackedAt: null, error: 'boom' }, ...acked(900, 5000)];
    expect(writeOutageMs(attempts, 200, 1000)).toBe(800);
  });
});

describe('firstAckAfter', () => {
  it('finds the first acknowledged write sent after the fault, not one in flight before it', () => {
    const attempts: WriteAttempt[] = [
      { id: 1, sentAt: 90, ackedAt: 400, error: null },
      { id: 2, sentAt: 150, ackedAt: 300, error: null },
      { id: 3, sentAt: 160, ackedAt: 350, error: null },
    ];
    expect(firstAckAfter(attempts, 100)).toBe(300);
    expect(firstAckAfter(attempts, 500)).toBeNull();
  });
});

describe('maxWritablePrimaries', () => {
  it('counts one writable primary across a clean failover', () => {
    const acks = [
      { node: 'node1', sentAt: 0, ackedAt: 10 },
      { node: 'node1', sentAt: 100, ackedAt: 110 },
      { node: 'node2', sentAt: 2000, ackedAt: 2010 },
    ];
    expect(maxWritablePrimaries(acks)).toMatchObject({ count: 1, nodes: ['node1'], at: 0 });
  });

  it('counts two when both nodes acknowledged writes in overlapping moments, even if they only touch', () => {
    const acks = [
      { node: 'node1', sentAt: 0, ackedAt: 10 },
      { node: 'node2', sentAt: 10, ackedAt: 20 },
      { node: 'node1', sentAt: 100, ackedAt: 500 },
      { node: 'node1', sentAt: 500, ackedAt: 510 },
    ];
    expect(maxWritablePrimaries(acks)).toEqual({ count: 2, nodes: ['node1', 'node2'], at: 10, evidence: [acks[0], acks[1]] });
  });

  it("starts a probe's interval at the server's statement time when the client sent it earlier", () => {
    // Overlapping at the server: still two. Sent while node1's write was open, but run by the
    // server after node1's acknowledgement: one.
    const late = [
      { node: 'node1', sentAt: 0, serverAt: 400, ackedAt: 1000 },
      { node: 'node2', sentAt: 300, serverAt: 350, ackedAt: 450 },
    ];
    expect(maxWritablePrimaries(late).count).toBe(2);
    const early = [
      { node: 'node1', sentAt: 0, serverAt: 5, ackedAt: 20 },
      { node: 'node2', sentAt: 10, serverAt: 30, ackedAt: 40 },
    ];
    expect(maxWritablePrimaries(early).count).toBe(1);
  });

  it("closes a probe whose server time reads later than its acknowledgement (two clocks), so it overlaps nothing after it", () => {
    const acks = [
      { node: 'node2', sentAt: 61_500, serverAt: 61_500.4, ackedAt: 61_500.2 },
      { node: 'node1', sentAt: 230_200, ackedAt: 230_300 },
    ];
    expect(maxWritablePrimaries(acks).count).toBe(1);
  });

  it('is zero when no node accepted a write', () => {
    expect(maxWritablePrimaries([])).toEqual({ count: 0, nodes: [], at: null, evidence: [] });
  });
});
