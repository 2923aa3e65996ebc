import { describe, expect, it } from 'vitest';
import { CLI_SPEC } from '../../cli/cli-spec.js';
import { cliProgram } from '../../cli/main.js';
import { specProgram, programSpec } from '../../cli/program-spec.js';
import type { CliDeps } from '../../cli/deps.js';
import { defineCommand, runProgram, type Program } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

/** What the built entry runs: the spec after the build's trip through JSON, loading the full program only to run a command. */
function entryProgram(load: () => Promise<Program<CliDeps>> = () => Promise.resolve(cliProgram())): Program<undefined> {
  return specProgram(JSON.parse(JSON.stringify(CLI_SPEC)) as typeof CLI_SPEC, load);
}

async function run<D>(program: Program<D>, argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(program, argv, out, {});
  return { code, stdout: out.stdout, stderr: out.stderr };
}

const full = cliProgram();
const neverLoaded = (): Promise<Program<CliDeps>> => Promise.reject(new Error('the full program was loaded'));

describe("the CLI's spec (what the built entry answers help from)", () => {
  it.each(['--help', '-h', 'help', '', '--version', '-V', 'no-such command', 'cluster show --colour', 'cluster restart --wait-timeout x'])(
    'answers "pgvigil %s" exactly as the full program does, without loading it',
    async (args) => {
      const argv = args === '' ? [] : args.split(' ');
      expect(await run(entryProgram(neverLoaded), argv)).toEqual(await run(full, argv));
    },
  );

  it.each(full.commands.map((c) => c.words.join(' ')))('prints the same "%s --help" as the full program, without loading it', async (words) => {
    const argv = [...words.split(' '), '--help'];
    const fromSpec = await run(entryProgram(neverLoaded), argv);
    expect(fromSpec.code).toBe(0);
    expect(fromSpec).toEqual(await run(full, argv));
  });

  it('lists the same commands, in the same order, as the full program', () => {
    expect(CLI_SPEC.commands.map((c) => c.words.join(' '))).toEqual(full.commands.map((c) => c.words.join(' ')));
  });

  it("runs a command with the full program's code and dependencies and the options it parsed", async () => {
    const seen: unknown[] = [];
    const echo = defineCommand<CliDeps>({
      words: ['echo'],
      summary: 'echo',
      usage: 'echo [--times=N]',
      examples: ['pgvigil echo --times 2'],
      options: { times: { type: 'integer', description: 'how often' } },
      positionals: true,
      async run(ctx) {
        seen.push(ctx.options, ctx.positionals, ctx.deps);
        return 7;
      },
    });
    const deps = { marker: 'the full program’s deps' } as unknown as CliDeps;
    const program: Program<CliDeps> = { ...full, commands: [echo], deps };
    let loads = 0;
    const entry = specProgram(programSpec(program), () => {
      loads++;
      return Promise.resolve(program);
    });
    expect(await run(entry, ['echo', '--times', '2', 'word'])).toEqual({ code: 7, stdout: [], stderr: [] });
    expect(loads).toBe(1);
    expect(seen).toEqual([{ times: 2 }, ['word'], deps]);
  });

  it("reports a command's failure as the full program does", async () => {
    const argv = ['config', 'check', '-f', '/nonexistent/repmgr.conf'];
    const fromSpec = await run(entryProgram(), argv);
    expect(fromSpec.code).not.toBe(0);
    expect(fromSpec).toEqual(await run(full, argv));
  });
});
