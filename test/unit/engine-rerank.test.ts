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

  it('aborts naming why each standby cannot be promoted when none can', () => {
    const snapshot = clusterSnapshot().crashPrimary().silence(2).silence(3).build();
    const reranking = rerankCandidates(snapshot, BUILDER_NOW, 1, 2);
    expect(reranking.kind).toBe('abort');
    expect(reranking.kind === 'abort' && reranking.reason).toMatch(/^no eligible candidate after fencing: node 2: .+ \| node 3: .+/);
  });
});
