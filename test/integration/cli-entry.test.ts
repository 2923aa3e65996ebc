/**
 * The built `pgvigil` (dist/pgvigil.mjs) as a process: it answers help and version from the spec
 * the build embedded (cli/entry.ts) and must print what the program's sources print, and still
 * run a command by loading its code.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, builtArtifact, packageRoot } from '../../build/artifacts.js';
import { cliProgram } from '../../cli/main.js';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

const BIN = builtArtifact(ARTIFACTS.cli);
const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

function built(...argv: string[]) {
  const run = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** What the program's sources print for argv, as a process would write it. */
async function fromSources(...argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(cliProgram(), argv, out, {});
  const text = (lines: string[]) => lines.map((l) => `${l}\n`).join('');
  return { code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

describe('the built pgvigil', () => {
  it.each(['--version', '-V', 'version'])('prints "pgvigil" and the version of package.json for "%s"', (flag) => {
    expect(built(flag)).toEqual({ code: 0, stdout: `pgvigil ${version}\n`, stderr: '' });
  });

  it.each(['--help', 'cluster show --help', 'sandbox drill --help', 'node check --help', 'promote --help', 'cluster show --colour'])(
    'prints for "%s" what the sources print',
    async (args) => {
      const argv = args.split(' ');
      expect(built(...argv)).toEqual(await fromSources(...argv));
    },
  );

  it('runs a command through its own code: config check names the missing configuration file', async () => {
    const argv = ['config', 'check', '-f', '/nonexistent/repmgr.conf'];
    const run = built(...argv);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('/nonexistent/repmgr.conf');
    expect(run).toEqual(await fromSources(...argv));
  });
});
