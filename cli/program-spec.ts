/**
 * The `pgvigil` program as data: its name, version, options and every command's words, usage,
 * options, examples and notes, without the commands' code. What `--help`, `--version` and a
 * command's `--help` print, and how its arguments are read, need nothing else; the built entry
 * (cli/entry.ts) answers them from this and loads a command's code only to run it.
 *
 * The spec is always computed from the program (cli/cli-spec.ts): the command definitions stay
 * the one source of the help.
 */
import type { Command, OptionSpec, Program } from '../shell/framework.js';
import type { CliDeps } from './deps.js';

/** A command without its code. */
export type CommandSpec = Omit<Command, 'run'>;

/** A program without its commands' code and its dependencies; plain JSON. */
export interface ProgramSpec {
  name: string;
  description: string;
  version: string;
  globalOptions: Record<string, OptionSpec>;
  commands: CommandSpec[];
}

/** The data of `program` (a copy: JSON in, JSON out, so what the build embeds is what this returns). */
export function programSpec<D>(program: Program<D>): ProgramSpec {
  const { name, description, version, globalOptions } = program;
  const commands = program.commands.map(({ run: _run, ...spec }) => spec);
  return JSON.parse(JSON.stringify({ name, description, version, globalOptions, commands })) as ProgramSpec;
}

/**
 * The program `spec` describes, with each command's code loaded when it runs: `load` gives the
 * full program, whose command of the same words then runs with that program's dependencies and
 * the options this one parsed.
 */
export function specProgram(spec: ProgramSpec, load: () => Promise<Program<CliDeps>>): Program<undefined> {
  return {
    ...spec,
    deps: undefined,
    commands: spec.commands.map((command) => ({
      ...command,
      async run(ctx) {
        const program = await load();
        const words = command.words.join(' ');
        const full = program.commands.find((c) => c.words.join(' ') === words);
        // Only a build whose embedded spec is not its program's could get here.
        if (!full) throw new Error(`command "${words}" is in the embedded help but not in the program`);
        return full.run({ ...ctx, deps: program.deps });
      },
    })),
  };
}
