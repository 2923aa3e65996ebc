/**
 * Entry of the installed `pgvigil` command (`npm run build` → dist/pgvigil.cjs, which
 * bin/pgvigil.cjs and the hosts' /usr/local/bin/pgvigil run). It is CommonJS and one file: Node's
 * ES module loader is a tenth of a start's CPU time, so `--help`, `--version`, `-V`, `version` and
 * a command's `--help` are answered here with no ES module loaded, from the spec the build embeds
 * and by the same framework as cli/entry.ts. Any other invocation imports dist/pgvigil.mjs (that
 * entry), which reads argv again and runs the command (docs/cli.md, "Start-up").
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runProgram, type Program } from '../shell/framework.js';
import { runAsProcess } from '../shell/process.js';
import { CLI_SPEC } from './cli-spec.js';
import { versionCommand } from './commands/version.js';

/** The ES module entry, next to this file in dist/ (`__dirname`: this file is only ever run as the CommonJS bundle). */
const ESM_ENTRY = join(__dirname, 'pgvigil.mjs');

void runAsProcess(async (argv) => {
  // Set when argv names a command to run: nothing has been printed then, and the full entry takes over.
  let runs = false;
  const program: Program<undefined> = {
    ...CLI_SPEC,
    deps: undefined,
    commands: CLI_SPEC.commands.map((command) => ({
      ...command,
      run:
        command.words.join(' ') === versionCommand.words.join(' ')
          ? versionCommand.run
          : async () => {
              runs = true;
              return 0;
            },
    })),
  };
  const code = await runProgram(program, argv);
  if (!runs) return code;
  // The import resolves once that entry's own runAsProcess has set the exit code.
  await import(pathToFileURL(ESM_ENTRY).href);
  return Number(process.exitCode ?? 0);
});
