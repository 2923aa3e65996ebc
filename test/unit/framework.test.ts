import { describe, expect, it } from 'vitest';
import { PgvigilError } from '../../core/errors.js';
import { defineCommand, opt, runProgram, type Program } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

const seen: Array<{ file: string | undefined; limit: number | undefined; csv: boolean }> = [];
const program: Program = {
  name: 'tool',
  description: 'test program',
  version: '1.2.3',
  globalOptions: { 'config-file': { type: 'string', short: 'f', description: 'config' } },
  commands: [
    defineCommand({
      words: ['cluster', 'show'],
      summary: 'show',
      usage: 'cluster show',
      examples: ['tool cluster show'],
      options: { csv: { type: 'boolean', description: 'csv' }, limit: { type: 'integer', description: 'n' } },
      async run(ctx) {
        seen.push({ file: opt.string(ctx, 'config-file'), limit: opt.integer(ctx, 'limit'), csv: opt.flag(ctx, 'csv') });
        return 0;
      },
    }),
    defineCommand({
      words: ['cluster', 'fail'],
      summary: 'fails',
      usage: 'cluster fail',
      examples: ['tool cluster fail'],
      options: {},
      async run() {
        throw new PgvigilError('DB_CONN', 'cannot connect', { detail: 'connection refused', hint: 'is it running?' });
      },
    }),
  ],
};

describe('runProgram', () => {
  it('accepts options before the command words, as repmgr users type them', async () => {
    seen.length = 0;
    expect(await runProgram(program, ['-f', 'cluster', 'cluster', 'show', '--csv'], memoryOutput())).toBe(0);
    expect(seen).toEqual([{ file: 'cluster', limit: undefined, csv: true }]);
  });

  it('parses integer options and refuses a non-integer with exit 1', async () => {
    seen.length = 0;
    expect(await runProgram(program, ['cluster', 'show', '--limit=5'], memoryOutput())).toBe(0);
    expect(seen[0]?.limit).toBe(5);
    const out = memoryOutput();
    expect(await runProgram(program, ['cluster', 'show', '--limit', 'x'], out)).toBe(1);
    expect(out.stderr.join('\n')).toContain('option --limit expects an integer, got "x"');
  });

  it('prints "NAME VERSION" for --version and -V with exit 0, and lists --version in the help', async () => {
    for (const flag of ['--version', '-V']) {
      const out = memoryOutput();
      expect(await runProgram(program, [flag], out)).toBe(0);
      expect(out.stdout).toEqual(['tool 1.2.3']);
      expect(out.stderr).toEqual([]);
    }
    const help = memoryOutput();
    await runProgram(program, ['--help'], help);
    expect(help.stdout).toContain('  tool --help | --version');
  });

  it('refuses an unknown option and an unknown command with exit 1', async () => {
    const out = memoryOutput();
    expect(await runProgram(program, ['cluster', 'show', '--bogus'], out)).toBe(1);
    expect(out.stderr.join('\n')).toMatch(/ERROR: Unknown option '--bogus'/);
    const out2 = memoryOutput();
    expect(await runProgram(program, ['cluster', 'dance'], out2)).toBe(1);
    expect(out2.stderr.join('\n')).toContain('unknown command "cluster dance"');
  });

  it("maps an error's code to repmgr's exit code and prints DETAIL and HINT", async () => {
    const out = memoryOutput();
    expect(await runProgram(program, ['cluster', 'fail'], out)).toBe(6);
    expect(out.stderr).toEqual(['ERROR: cannot connect', 'DETAIL: connection refused', 'HINT: is it running?']);
  });

  it('prints help with an example for a command', async () => {
    const out = memoryOutput();
    expect(await runProgram(program, ['cluster', 'show', '--help'], out)).toBe(0);
    expect(out.stdout.join('\n')).toMatch(/Examples:\n {2}tool cluster show/);
  });
});
