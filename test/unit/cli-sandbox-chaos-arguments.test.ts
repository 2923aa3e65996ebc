import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runProgram } from '../../shell/framework.js';
import { cliProgram } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';

const program = cliProgram();
const dir = mkdtempSync(join(tmpdir(), 'pgv-chaos-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `sandbox chaos` against an empty directory (no sandbox there: a fresh one would be brought up). */
async function chaos(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = memoryOutput();
  const code = await runProgram(program, ['sandbox', 'chaos', '--dir', join(dir, 'none'), '--seed', '1', ...args], out, {});
  return { code, stderr: out.stderr.join('\n') };
}

describe('pgvigil sandbox chaos arguments', () => {
  it('refuses a --max-hold under 15 s before bringing anything up, saying what and why', async () => {
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('pgvigil-chaos-'));
    const r = await chaos('--once', '--max-hold', '12s');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('option --max-hold must be at least 15 s');
    expect(r.stderr).toContain('HINT: a long hold must stay clearly above the lease');
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('pgvigil-chaos-'))).toEqual(before);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a --max-hold that is no duration, naming the option', async () => {
    const r = await chaos('--max-hold', 'soon');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('option --max-hold expects a duration such as 90s, 10m or 1h30m, got "soon"');
  });

  it('still names --duration in a bad --duration', async () => {
    const r = await chaos('--duration', '5');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('option --duration must be between 10s and 24h, got "5"');
  });
});
