/**
 * The host package (dist/pgvigil-host.zip) as a host gets it: unpacked with `unzip` into a
 * directory with no node_modules anywhere above it, its bundles run by their own `#!` line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, builtArtifact, packageRoot } from '../../build/artifacts.js';
import { POSTGRESQL_DROP_IN, SYSTEMD_UNIT } from '../../build/host-package.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-host-'));
const opt = join(dir, 'opt', 'pgvigil');
const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
let files: string[];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `file ARGS` in the unpacked package, with a PATH that has node and nothing of this repository. */
function run(file: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(join(opt, file), args, { cwd: dir, encoding: 'utf8', env: { PATH: `${join(process.execPath, '..')}:/usr/bin:/bin`, HOME: dir } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  mkdirSync(opt, { recursive: true });
  const unzip = spawnSync('unzip', ['-q', builtArtifact(ARTIFACTS.hostPackage), '-d', opt], { encoding: 'utf8' });
  expect(unzip.status, unzip.stderr).toBe(0);
  files = spawnSync('unzip', ['-Z1', builtArtifact(ARTIFACTS.hostPackage)], { encoding: 'utf8' }).stdout.trim().split('\n');
});

describe('the host package', () => {
  it("is one archive under 5 MB holding the agent, the CLI (its entry in CommonJS and in ES modules), the agent's unit and PostgreSQL's boot-guard drop-in, and no node_modules", () => {
    expect(statSync(builtArtifact(ARTIFACTS.hostPackage)).size).toBeLessThan(5 * 1024 * 1024);
    expect(files).toEqual(expect.arrayContaining([ARTIFACTS.agent, ARTIFACTS.cli, SYSTEMD_UNIT, POSTGRESQL_DROP_IN, 'package.json']));
    expect(files.filter((f) => !f.startsWith(`${ARTIFACTS.cliChunks}/`)).sort()).toEqual([ARTIFACTS.cli, ARTIFACTS.cliCommand, ARTIFACTS.agent, SYSTEMD_UNIT, POSTGRESQL_DROP_IN, 'package.json'].sort());
    expect(files.some((f) => f.includes('node_modules'))).toBe(false);
  });

  it("holds the file the unit's ExecStart runs, under /opt/pgvigil", () => {
    const unit = readFileSync(join(opt, SYSTEMD_UNIT), 'utf8');
    const exec = /^ExecStart=\S+ .*?\/opt\/pgvigil\/(\S+\.mjs) run/m.exec(unit);
    expect(exec?.[1]).toBe(ARTIFACTS.agent);
  });

  it("holds the file the drop-in's ExecStartPre runs, with the node startup command", () => {
    const dropIn = readFileSync(join(opt, POSTGRESQL_DROP_IN), 'utf8');
    const exec = /^ExecStartPre=\S+ \/opt\/pgvigil\/(\S+\.mjs) node startup -f \/etc\/pgvigil\/repmgr\.conf$/m.exec(dropIn);
    expect(exec?.[1]).toBe(ARTIFACTS.agent);
    const help = run(ARTIFACTS.agent, ['node', 'startup', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('pgvigil-agent node startup -f CONFIG');
  });

  it('runs the agent and the CLI from the unpacked files alone, each by its own #! line', () => {
    expect(run(ARTIFACTS.agent, ['--version'])).toMatchObject({ code: 0, stdout: `pgvigil-agent ${version}\n` });
    expect(run(ARTIFACTS.cli, ['--version'])).toMatchObject({ code: 0, stdout: `pgvigil ${version}\n` });
    const help = run(ARTIFACTS.cli, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('  cluster show');
    // A command that loads its chunks: the configuration parser and its schemas.
    const check = run(ARTIFACTS.cli, ['config', 'check', '-f', join(packageRoot(), 'examples/repmgr.conf')]);
    expect(check.stderr).toMatch(/INFO: configuration file ".*repmgr\.conf" is valid/);
    expect(check.code).toBe(0);
  });

  it('runs the pgvigil command the hosts link (/usr/local/bin/pgvigil → dist/pgvigil.cjs): help from that file, a command through the CLI it imports', () => {
    const link = join(dir, 'usr-local-bin-pgvigil');
    symlinkSync(join(opt, ARTIFACTS.cliCommand), link);
    const pgvigil = (args: string[]) => run(relative(opt, link), args);
    expect(pgvigil(['-V'])).toEqual({ code: 0, stdout: `pgvigil ${version}\n`, stderr: '' });
    expect(pgvigil(['cluster', 'show', '--help'])).toEqual(run(ARTIFACTS.cli, ['cluster', 'show', '--help']));
    const check = pgvigil(['config', 'check', '-f', join(packageRoot(), 'examples/repmgr.conf')]);
    expect(check.stderr).toMatch(/INFO: configuration file ".*repmgr\.conf" is valid/);
    expect(check.code).toBe(0);
  });

  it('says plainly that the sandbox needs a clone of the repository', () => {
    const status = run(ARTIFACTS.cli, ['sandbox', 'status', '--dir', join(dir, 'none')]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/^ERROR: the sandbox runs from a clone of the pgvigil repository\nDETAIL: .*aws-cdk-lib.*\nHINT: clone the repository, then run "npm ci && npm start" there\n$/);
  });
});
