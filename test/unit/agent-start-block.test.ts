import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBlockHolder, withStartBlock } from '../../agent/actions/start-block.js';
import { memoryOutput, type Output } from '../../shell/output.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgvigil-start-block-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function output(): { out: Output; lines: string[] } {
  const out = memoryOutput();
  return { out, lines: out.stderr };
}

describe('start block', () => {
  it('names this process while the rejoin works, and is gone once it lifts it before its own start', async () => {
    const { out } = output();
    const seen: Array<number | null> = [];
    await withStartBlock(dir, out, async (lift) => {
      seen.push(await startBlockHolder(dir));
      await lift();
      seen.push(await startBlockHolder(dir));
    });
    expect(seen).toEqual([process.pid, null]);
    expect(existsSync(join(dir, 'start-block'))).toBe(false);
  });

  it('is lifted when the rejoin fails', async () => {
    const { out } = output();
    await expect(withStartBlock(dir, out, async () => Promise.reject(new Error('pg_rewind failed')))).rejects.toThrow('pg_rewind failed');
    expect(await startBlockHolder(dir)).toBeNull();
    expect(existsSync(join(dir, 'start-block'))).toBe(false);
  });

  it('holds nothing off once its process is gone, nor without a state directory', async () => {
    await writeFile(join(dir, 'start-block'), `${spawnSync('true').pid}\n`);
    expect(await startBlockHolder(dir)).toBeNull();
    await writeFile(join(dir, 'start-block'), 'garbage\n');
    expect(await startBlockHolder(dir)).toBeNull();
    expect(await startBlockHolder(undefined)).toBeNull();
  });

  it('never stops the rejoin: a block that cannot be written is skipped with a warning', async () => {
    if (process.getuid?.() === 0) {
      // root writes anywhere: a missing directory is what cannot be written then.
      const { out, lines } = output();
      expect(await withStartBlock(join(dir, 'missing'), out, async () => 'ran')).toBe('ran');
      expect(lines.join('')).toMatch(/WARNING: unable to write .*start-block .*other starts of PostgreSQL are not held off during this rejoin/);
      return;
    }
    await chmod(dir, 0o500);
    const { out, lines } = output();
    expect(await withStartBlock(dir, out, async () => 'ran')).toBe('ran');
    expect(lines.join('')).toMatch(/WARNING: unable to write .*start-block/);
  });
});
