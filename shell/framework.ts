/**
 * A small command framework over `node:util` parseArgs: repmgr-style command words
 * (`cluster show`, `standby switchover`), typed options, `--help` with an example for every
 * command, and one place where errors become repmgr's exit codes.
 */
import { parseArgs } from 'node:util';
import { PgvigilError, exitCodeFor } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { streamOutput, type Output } from './output.js';

export type OptionType = 'string' | 'boolean' | 'integer';

export interface OptionSpec {
  type: OptionType;
  short?: string;
  description: string;
  /** Allowed more than once (values collected in order). */
  multiple?: boolean;
}

export type OptionValues = Record<string, string | boolean | number | string[] | undefined>;

export interface CommandContext {
  /** Parsed options, keyed by long name (`config-file` stays `config-file`). */
  options: OptionValues;
  positionals: string[];
  out: Output;
  env: NodeJS.ProcessEnv;
  /** The clock commands read (milliseconds since the epoch); tests pass a fixed one. Default Date.now. */
  now?: () => number;
}

/** Optional extras for {@link runProgram}. */
export interface RunOptions {
  /** Clock handed to commands as `ctx.now` (tests pin it so golden output is stable). */
  now?: () => number;
}

export interface Command {
  /** The command words, e.g. `['cluster', 'show']`. */
  words: string[];
  summary: string;
  /** One usage line after the program name, e.g. `cluster show [--csv] [--json]`. */
  usage: string;
  /** At least one runnable example. */
  examples: string[];
  /** Optional lines printed under "Notes:" in the command's --help (a legend, say). */
  notes?: string[];
  options: Record<string, OptionSpec>;
  /** Accept positional arguments (default: none). */
  positionals?: boolean;
  /** Returns the process exit code; throw a PgvigilError for failures. */
  run(ctx: CommandContext): Promise<number>;
}

export interface Program {
  name: string;
  description: string;
  /** Printed by `--version` and `-V` as "NAME VERSION". */
  version: string;
  commands: Command[];
  /** Options every command accepts (e.g. `-f/--config-file`, `--log-level`). */
  globalOptions: Record<string, OptionSpec>;
}

export function defineCommand(command: Command): Command {
  return command;
}

/**
 * The words of argv that are not options nor option values. Options may stand anywhere, also before
 * the command words (`pgvigil -f repmgr.conf cluster show`, as repmgr users type it), so the value of
 * any option that takes one is skipped.
 */
function commandWords(program: Program, argv: string[]): { words: string[]; indexes: number[] } {
  const valued = new Set<string>();
  for (const specs of [program.globalOptions, ...program.commands.map((c) => c.options)]) {
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.type === 'boolean') continue;
      valued.add(`--${name}`);
      if (spec.short) valued.add(`-${spec.short}`);
    }
  }
  const words: string[] = [];
  const indexes: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      if (valued.has(arg)) i++;
      continue;
    }
    words.push(arg);
    indexes.push(i);
  }
  return { words, indexes };
}

function findCommand(program: Program, argv: string[]): { command: Command; rest: string[] } | undefined {
  const { words, indexes } = commandWords(program, argv);
  let best: Command | undefined;
  for (const c of program.commands) {
    if (c.words.every((w, i) => words[i] === w) && (!best || c.words.length > best.words.length)) best = c;
  }
  if (!best) return undefined;
  const drop = new Set(indexes.slice(0, best.words.length));
  return { command: best, rest: argv.filter((_, i) => !drop.has(i)) };
}

export function renderHelp(program: Program, command?: Command): string {
  const lines: string[] = [];
  if (!command) {
    lines.push(`${program.name}: ${program.description}`, '', 'Usage:', `  ${program.name} COMMAND [OPTIONS]`, `  ${program.name} --help | --version`, '', 'Commands:');
    const width = Math.max(...program.commands.map((c) => c.words.join(' ').length));
    for (const c of program.commands) lines.push(`  ${c.words.join(' ').padEnd(width)}  ${c.summary}`);
    lines.push('', `Run "${program.name} COMMAND --help" for a command's options and an example.`);
    return lines.join('\n');
  }
  lines.push(`${program.name} ${command.words.join(' ')}: ${command.summary}`, '', 'Usage:', `  ${program.name} ${command.usage}`);
  const opts = { ...command.options, ...program.globalOptions };
  if (Object.keys(opts).length > 0) {
    lines.push('', 'Options:');
    for (const [name, spec] of Object.entries(opts)) {
      const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'boolean' ? '' : spec.type === 'integer' ? '=N' : '=VALUE'}`;
      lines.push(`  ${flag.padEnd(32)} ${spec.description}`);
    }
  }
  lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  if (command.notes?.length) lines.push('', 'Notes:', ...command.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}

function parseOptions(command: Command, program: Program, rest: string[]): { options: OptionValues; positionals: string[] } {
  const specs: Record<string, OptionSpec> = { ...program.globalOptions, ...command.options, help: { type: 'boolean', description: '' } };
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    config[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: config, strict: true, allowPositionals: true });
  } catch (error) {
    throw new PgvigilError('BAD_ARGUMENT', (error as Error).message.replace(/\. To specify a positional.*$/s, ''), {
      hint: `see "${program.name} ${command.words.join(' ')} --help"`,
    });
  }
  if (parsed.positionals.length > 0 && !command.positionals) {
    throw new PgvigilError('BAD_ARGUMENT', `unexpected argument "${parsed.positionals[0]}"`, {
      hint: `see "${program.name} ${command.words.join(' ')} --help"`,
    });
  }
  const options: OptionValues = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    const spec = specs[name];
    if (spec?.type === 'integer') {
      const text = String(value);
      if (!/^-?\d+$/.test(text)) {
        throw new PgvigilError('BAD_ARGUMENT', `option --${name} expects an integer, got "${text}"`);
      }
      options[name] = Number(text);
    } else {
      options[name] = value as string | boolean | string[];
    }
  }
  return { options, positionals: parsed.positionals };
}

/** Runs a program on argv and returns the exit code. Never throws. */
export async function runProgram(
  program: Program,
  argv: string[],
  out: Output = streamOutput(),
  env: NodeJS.ProcessEnv = process.env,
  runOptions: RunOptions = {},
): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    out.print(renderHelp(program));
    return argv.length === 0 ? ExitCode.ERR_BAD_CONFIG : ExitCode.SUCCESS;
  }
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    out.print(`${program.name} ${program.version}`);
    return ExitCode.SUCCESS;
  }
  const found = findCommand(program, argv);
  if (!found) {
    out.error(`unknown command "${commandWords(program, argv).words.join(' ')}"`);
    out.hint(`run "${program.name} --help" for the list of commands`);
    return ExitCode.ERR_BAD_CONFIG;
  }
  try {
    const { options, positionals } = parseOptions(found.command, program, found.rest);
    if (options.help) {
      out.print(renderHelp(program, found.command));
      return ExitCode.SUCCESS;
    }
    return await found.command.run({ options, positionals, out, env, ...(runOptions.now ? { now: runOptions.now } : {}) });
  } catch (error) {
    reportError(out, error);
    return exitCodeFor(error);
  }
}

export function reportError(out: Output, error: unknown): void {
  if (error instanceof PgvigilError) {
    out.error(error.message);
    if (error.detail) out.detail(error.detail);
    if (error.hint) out.hint(error.hint);
  } else {
    out.error(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

/** Typed accessors for option values. */
export const opt = {
  string(ctx: CommandContext, name: string): string | undefined {
    const v = ctx.options[name];
    return typeof v === 'string' ? v : undefined;
  },
  requiredString(ctx: CommandContext, name: string): string {
    const v = opt.string(ctx, name);
    if (v === undefined || v === '') throw new PgvigilError('BAD_ARGUMENT', `option --${name} is required`);
    return v;
  },
  integer(ctx: CommandContext, name: string): number | undefined {
    const v = ctx.options[name];
    return typeof v === 'number' ? v : undefined;
  },
  flag(ctx: CommandContext, name: string): boolean {
    return ctx.options[name] === true;
  },
};
