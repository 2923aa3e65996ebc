import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_STATE_FILE_BYTES, readAgentState } from '../../agent/state-file.js';
import type { EventRecord } from '../../core/model.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-state-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (cluster_id: string, details = 'started'): EventRecord => ({
  cluster_id,
  node_id: 2,
  event: 'agent_start',
  successful: true,
  timestamp: 1_760_000_000_000,
  details,
  term: 3,
});

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe("the agent's state file", () => {
  it('restores the sequence and the queued events of this cluster', async () => {
    const path = file('ok.json', { seq: 41, events: [event('main'), event('other'), event('main', 'again')] });
    expect(await readAgentState(path, 'main')).toEqual({ state: { seq: 41, events: [event('main'), event('main', 'again')] } });
  });

  it('starts from sequence 0 without a word when there is no file yet', async () => {
    expect(await readAgentState(join(dir, 'none.json'), 'main')).toEqual({ state: { seq: 0, events: [] } });
  });

  it('is not used at all when a key is unknown or a field is bad, and says which', async () => {
    const path = file('bad.json', { seq: 7, event: [], events: [event('main'), { ...event('main'), term: -1 }] });
    expect(await readAgentState(path, 'main')).toEqual({
      state: { seq: 0, events: [] },
      problem: 'events.1.term: expected a number >= 0, got -1; event: unknown key (did you mean "events"?)',
    });
  });

  it('is not used when it is cut short, or larger than a state file can be', async () => {
    expect((await readAgentState(file('cut.json', '{"seq": 4, "ev'), 'main')).problem).toMatch(/^not valid JSON: /);
    const big = file('big.json', { seq: 1, events: [], pad: 'x'.repeat(MAX_STATE_FILE_BYTES) });
    expect(await readAgentState(big, 'main')).toEqual({ state: { seq: 0, events: [] }, problem: `${MAX_STATE_FILE_BYTES + 30} bytes is more than a state file may hold (${MAX_STATE_FILE_BYTES})` });
  });
});
