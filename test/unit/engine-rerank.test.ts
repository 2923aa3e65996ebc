import { describe, expect, it } from 'vitest';
import { rerankCandidates } from '../../core/engine/rerank.js';
import { BUILDER_NOW, PRIMARY_LSN, clusterSnapshot } from '../support/snapshot-builder.js';

/**
 * The failover's re-ranking after the fence (core/engine/rerank.ts). The builder's cluster: node 1
 * primary (crashed here), node 2 a standby at the primary's LSN, node 3 a standby behind it.
 */
describe('re-ranking the candidates after the fence', () => {
  it('switches to the standby that is ahead of the claimed one', () => {
    const snapshot = clusterSnapshot().crashPrimary().build();
    expect(rerankCandidates(snapshot, BUILDER_NOW, 1, 3)).toEqual({ kind: 'choose', candidate: 2, previous: 3 });
  });

  it('keeps the claimed standby once it has received as much as the best', () => {
    const snapshot = clusterSnapshot().crashPrimary().server(3, { receive_lsn: PRIMARY_LSN, replay_lsn: PRIMARY_LSN }).build();
    expect(rerankCandidates(snapshot, BUILDER_NOW, 1, 3)).toEqual({ kind: 'keep' });
  });

  it('confirms the best standby when it is the one claimed', () => {
    const snapshot = clusterSnapshot().crashPrimary().build();
    expect(rerankCandidates(snapshot, BUILDER_NOW, 1, 2)).toEqual({ kind: 'choose', candidate: 2, previous: 2 });
  });

  it('aborts when the old primary is no longer registered', () => {
    const snapshot = clusterSnapshot().crashPrimary().build();
    expect(rerankCandidates(snapshot, BUILDER_NOW, 9, 2)).toEqual({ kind: 'abort', reason: 'the old primary node 9 is no longer registered' });
  });

  it('waits for a standby held back only by a heartbeat that is late by less than the silence limit, and aborts past it', () => {
    const settings = clusterSnapshot().build().cluster.settings;
    const age = settings.node_timeout_secs * 1000 + settings.clock_skew_margin_ms + 1000;
    const limit = (settings.node_timeout_secs + settings.lease_secs) * 1000 + settings.clock_skew_margin_ms;
    const late = clusterSnapshot().crashPrimary().silence(2, age).silence(3, age).build();
    const reranking = rerankCandidates(late, BUILDER_NOW, 1, 2);
    expect(reranking).toMatchObject({ kind: 'wait', until: BUILDER_NOW - age + limit });
    expect(reranking.kind === 'wait' && reranking.reason).toMatch(/^no eligible candidate after fencing: node 2: last sent a heartbeat/);
    expect(rerankCandidates(late, BUILDER_NOW - age + limit, 1, 2).kind).toBe('abort');
    // A standby with another fault as well is not waited for.
    const otherwise = clusterSnapshot().crashPrimary().node(2, { priority: 0 }).silence(3, age).node(3, { fenced: true }).build();
    expect(rerankCandidates(otherwise, BUILDER_NOW, 1, 2).kind).toBe('abort');
  });

  it('aborts naming why each standby cannot be promoted when none can', () => {
    const snapshot = clusterSnapshot().crashPrimary().silence(2).silence(3).build();
    const reranking = rerankCandidates(snapshot, BUILDER_NOW, 1, 2);
    expect(reranking.kind).toBe('abort');
    expect(reranking.kind === 'abort' && reranking.reason).toMatch(/^no eligible candidate after fencing: node 2: .+ \| node 3: .+/);
  });
});
