/**
 * The built `pgvigil` as a process, both ways it starts: dist/pgvigil.mjs (cli/entry.ts) and the
 * installed command, bin/pgvigil.cjs → dist/pgvigil.cjs (cli/command-entry.ts). Each answers help
 * and version from the spec the build embedded and must print what the program's sources print,
 * and still run a command by loading its code; the installed command's help loads no ES module.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, builtArtifact, packageRoot } from '../../build/artifacts.js';
import { cliProgram } from '../../cli/main.js';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

const ESM = builtArtifact(ARTIFACTS.cli);
builtArtifact(ARTIFACTS.cliCommand);
const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const { version } = pkg;
/** What npm links as `pgvigil`. */
const INSTALLED = join(packageRoot(), pkg.bin.pgvigil as string);
const scratch = mkdtempSync(join(tmpdir(), 'pgvigil-cli-entry-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function start(file: string, argv: string[], node: string[] = []) {
  const run = spawnSync(process.execPath, [...node, file, ...argv], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}
const built = (...argv: string[]) => start(ESM, argv);
const installed = (...argv: string[]) => start(INSTALLED, argv);

/**
 * What a start of `file ARGS` loaded, as Node itself lists it at exit: the CommonJS files
 * (require.cache) and whether Node's ES module loader ran (its internal modules, loaded on first use).
 */
function loaded(file: string, argv: string[]): { code: number | null; files: string[]; esmLoader: boolean } {
  const probe = join(scratch, 'probe.cjs');
  const report = join(scratch, 'loaded.json');
  writeFileSync(
    probe,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify({ files: Object.keys(require.cache).filter((f) => f !== __filename), internal: process.moduleLoadList })));\n`,
  );
  const { code } = start(file, argv, ['--require', probe]);
  const { files, internal } = JSON.parse(readFileSync(report, 'utf8')) as { files: string[]; internal: string[] };
  return { code, files, esmLoader: internal.includes('NativeModule internal/modules/esm/loader') };
}

/** What the program's sources print for argv, as a process would write it. */
async function fromSources(...argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(cliProgram(), argv, out, {});
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join('');
  return { code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

describe.each([
  ['dist/pgvigil.mjs', built],
  ['the installed command', installed],
])('the built pgvigil, started as %s', (_how, pgvigil) => {
  it.each(['--version', '-V', 'version'])('prints "pgvigil" and the version of package.json for "%s"', (flag) => {
    expect(pgvigil(flag)).toEqual({ code: 0, stdout: `pgvigil ${version}\n`, stderr: '' });
  });

  it.each(['--help', 'help', '', 'cluster show --help', 'sandbox drill --help', 'node check --help', 'promote --help', 'cluster show --colour', 'no-such-command --help', 'cluster show -- --help'])(
    'prints for "%s" what the sources print',
    async (args) => {
      const argv = args === '' ? [] : args.split(' ');
      expect(pgvigil(...argv)).toEqual(await fromSources(...argv));
    },
  );

  it('runs a command through its own code: config check names the missing configuration file', async () => {
    const argv = ['config', 'check', '-f', '/nonexistent/repmgr.conf'];
    const run = pgvigil(...argv);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('/nonexistent/repmgr.conf');
    expect(run).toEqual(await fromSources(...argv));
  });
});

describe('the installed pgvigil (bin/pgvigil.cjs)', () => {
  it.each(cliProgram().commands.map((c) => c.words.join(' ')))('prints for "%s --help" exactly what dist/pgvigil.mjs prints', (words) => {
    const argv = [...words.split(' '), '--help'];
    const fast = installed(...argv);
    expect(fast.code).toBe(0);
    expect(fast).toEqual(built(...argv));
  });

  it.each(['--help', '--version', '-V', 'version', 'cluster show --help', 'cluster show --colour'])(
    'answers "%s" with its two CommonJS files and no ES module loaded',
    (args) => {
      expect(loaded(INSTALLED, args.split(' '))).toEqual({ code: args === 'cluster show --colour' ? 1 : 0, files: [INSTALLED, builtArtifact(ARTIFACTS.cliCommand)], esmLoader: false });
    },
  );

  it('loads the ES module entry to run a command, as dist/pgvigil.mjs does for every start (what the check above would see)', () => {
    expect(loaded(INSTALLED, ['config', 'check', '-f', '/nonexistent/repmgr.conf'])).toMatchObject({ code: 1, esmLoader: true });
    expect(loaded(ESM, ['--help'])).toMatchObject({ code: 0, files: [], esmLoader: true });
  });

  it('says how to build pgvigil when dist/ is missing, and exits 1', () => {
    const clone = join(scratch, 'clone');
    mkdirSync(join(clone, 'bin'), { recursive: true });
    copyFileSync(INSTALLED, join(clone, pkg.bin.pgvigil as string));
    expect(start(join(clone, pkg.bin.pgvigil as string), ['--help'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `ERROR: pgvigil is not built: ${join(clone, ARTIFACTS.cliCommand)} is missing\nHINT: run "npm run build" in ${clone}/\n`,
    });
  });
});
