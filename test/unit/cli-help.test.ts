import { describe, expect, it } from 'vitest';
import { runProgram } from '../../shell/framework.js';
import { program } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';

const operatorCommands = [
  'cluster show',
  'cluster list',
  'cluster uri',
  'cluster event',
  'cluster matrix',
  'cluster crosscheck',
  'cluster cleanup',
  'cluster explain',
  'node status',
  'node check',
  'standby switchover',
  'cluster cancel-switchover',
  'service status',
  'service pause',
  'service unpause',
];

describe('pgvigil --help', () => {
  it.each(operatorCommands)('"%s --help" prints usage, options and a runnable example, exit 0', async (words) => {
    const out = memoryOutput();
    const code = await runProgram(program, [...words.split(' '), '--help'], out, {});
    expect(code).toBe(0);
    const text = out.stdout.join('\n');
    expect(text).toContain(`Usage:\n  pgvigil ${words}`);
    expect(text).toMatch(new RegExp(`Examples:\\n  (\\S+=\\S+ )?pgvigil .*${words.split(' ')[1]}`));
  });

  it('lists every operator command in the program help', async () => {
    const out = memoryOutput();
    expect(await runProgram(program, ['--help'], out, {})).toBe(0);
    for (const words of operatorCommands) expect(out.stdout.join('\n')).toContain(`  ${words}`);
  });

  it('rejects an unknown option with exit 1 and a pointer to --help', async () => {
    const out = memoryOutput();
    expect(await runProgram(program, ['cluster', 'show', '--colour'], out, {})).toBe(1);
    expect(out.stderr).toEqual(["ERROR: Unknown option '--colour'", 'HINT: see "pgvigil cluster show --help"']);
  });
});
