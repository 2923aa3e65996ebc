import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import type { ControllerDeps } from '../../functions/controller.js';
import { fromEnvironment } from '../../functions/environment.js';

// The Lambda handler modules' composition root (docs/architecture.md, "Composition roots").
describe('fromEnvironment', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('builds the adapters of the environment once per container, at its first invocation', async () => {
    vi.stubEnv('PGVIGIL_TABLE', 'pgvigil-state');
    const built: ControllerDeps[] = [];
    const handler = fromEnvironment((deps) => {
      built.push(deps);
      return async (event) => ({ event, store: deps.store });
    });
    expect(built).toEqual([]);
    const first = await handler('a');
    const second = await handler('b');
    expect(built).toHaveLength(1);
    expect([first.event, second.event]).toEqual(['a', 'b']);
    expect(first.store).toBeInstanceOf(DynamoStateStore);
    expect(second.store).toBe(first.store);
  });

  it('fails the invocation, not the import of a handler module, when the environment names no table', async () => {
    vi.stubEnv('PGVIGIL_TABLE', '');
    const { handler } = await import('../../functions/handlers/evaluator.js');
    await expect(handler({ Records: [] })).rejects.toThrow('(environment): "PGVIGIL_TABLE": required: the name of the pgvigil state table');
  });
});
