import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { STREAM_FILTER_PATTERNS, matchesStreamFilter } from '../../core/stream-filter.js';

type Image = Record<string, unknown>;
const record = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE', newImage?: Image, oldImage?: Image) => ({
  eventID: '1',
  eventName,
  eventSource: 'aws:dynamodb',
  dynamodb: {
    Keys: marshall({ pk: 'C#main', sk: 'X' }),
    ...(newImage ? { NewImage: marshall(newImage, { removeUndefinedValues: true }) } : {}),
    ...(oldImage ? { OldImage: marshall(oldImage, { removeUndefinedValues: true }) } : {}),
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
});

const heartbeat = (attention: boolean): Image => ({ pk: 'C#main', sk: 'HB#0000000001', kind: 'heartbeat', attention, seq: 7, server: null });
const operation = { id: 'op1', kind: 'failover', term: 4, candidate_node_id: 2, old_primary_node_id: 1, step: 'fence', owner: 'x', deadline: 1, started_at: 1, data: {} };
const cluster = (over: Image = {}): Image => ({
  pk: 'C#main',
  sk: 'CLUSTER',
  kind: 'cluster',
  term: 3,
  primary_node_id: 1,
  paused: false,
  operation: null,
  lease: { holder_node_id: 1, term: 3, rvn: 'a', renewed_at: 1 },
  ...over,
});

describe('matchesStreamFilter', () => {
  it('passes a heartbeat that needs attention, inserted or modified', () => {
    expect(matchesStreamFilter(record('INSERT', heartbeat(true)))).toBe(true);
    expect(matchesStreamFilter(record('MODIFY', heartbeat(true), heartbeat(false)))).toBe(true);
  });

  it('drops a healthy periodic heartbeat', () => {
    expect(matchesStreamFilter(record('MODIFY', heartbeat(false), heartbeat(false)))).toBe(false);
    expect(matchesStreamFilter(record('MODIFY', heartbeat(false), heartbeat(true)))).toBe(false);
  });

  it('drops a lease renewal and a lease observation on the cluster record', () => {
    const renewed = cluster({ lease: { holder_node_id: 1, term: 3, rvn: 'b', renewed_at: 2 } });
    expect(matchesStreamFilter(record('MODIFY', renewed, cluster()))).toBe(false);
    const observed = cluster({ lease_observation: { rvn: 'a', first_seen_at: 5 } });
    expect(matchesStreamFilter(record('MODIFY', observed, cluster()))).toBe(false);
  });

  it('passes a cluster record that claims an operation (the only write that raises the term)', () => {
    expect(matchesStreamFilter(record('MODIFY', cluster({ term: 4, operation }), cluster()))).toBe(true);
  });

  it('passes every write of a cluster record while an operation is in flight, and the one that ends it', () => {
    expect(matchesStreamFilter(record('MODIFY', cluster({ term: 4, operation: { ...operation, step: 'promote' } }), cluster({ term: 4, operation })))).toBe(true);
    expect(matchesStreamFilter(record('MODIFY', cluster({ term: 4, primary_node_id: 2 }), cluster({ term: 4, operation })))).toBe(true);
  });

  it('passes an unpause and drops a pause', () => {
    expect(matchesStreamFilter(record('MODIFY', cluster({ paused: false }), cluster({ paused: true })))).toBe(true);
    expect(matchesStreamFilter(record('MODIFY', cluster({ paused: true }), cluster({ paused: false })))).toBe(false);
  });

  it('drops node records, events, monitoring samples and removals', () => {
    expect(matchesStreamFilter(record('INSERT', { pk: 'C#main', sk: 'NODE#0000000001', kind: 'node', node_id: 1 }))).toBe(false);
    expect(matchesStreamFilter(record('INSERT', { pk: 'C#main', sk: 'EVENT#1', kind: 'event', event: 'standby_promote' }))).toBe(false);
    expect(matchesStreamFilter(record('INSERT', { pk: 'C#main', sk: 'MON#1', kind: 'monitoring' }))).toBe(false);
    expect(matchesStreamFilter(record('REMOVE', undefined, heartbeat(true)))).toBe(false);
  });

  it('is not fooled by an attention flag that is not a boolean, or by a record that is not an object', () => {
    expect(matchesStreamFilter(record('MODIFY', { ...heartbeat(false), attention: 'true' }))).toBe(false);
    expect(matchesStreamFilter(null)).toBe(false);
    expect(matchesStreamFilter('INSERT')).toBe(false);
  });

  it('keeps within the five filters Lambda accepts by default', () => {
    expect(STREAM_FILTER_PATTERNS.length).toBeLessThanOrEqual(5);
  });
});
