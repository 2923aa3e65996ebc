import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfigPath } from '../../adapters/config-file.js';
import { runProgram } from '../../shell/framework.js';
import { program } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';
import { CONFIG_KEY_NAMES, parseConfig } from '../../core/config/index.js';
import { ConfigError } from '../../core/errors.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url));
const example = fileURLToPath(new URL('../../examples/repmgr.conf', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-config-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function writeConf(text: string): string {
  const path = join(dir, `repmgr-${++counter}.conf`);
  writeFileSync(path, text);
  return path;
}

const BASE = [
  'node_id=1',
  "node_name='node1'",
  "conninfo='host=db1 user=repmgr dbname=repmgr'",
  "data_directory='/var/lib/postgresql/15/main'",
];

/** Runs `pgvigil ARGS` with a controlled environment (the machine's AWS_REGION must not leak in). */
async function run(argv: string[], env: Record<string, string> = {}) {
  const out = memoryOutput();
  const code = await runProgram(program, argv, out, env);
  return { code, stdout: out.stdout, stderr: out.stderr };
}

describe('pgvigil config check', () => {
  it.each(['seed-001-section-1.4.repmgr.conf', 'seed-003-final.repmgr.conf'])('accepts the seed file %s and exits 0', async (name) => {
    const { code, stdout, stderr } = await run(['config', 'check', '-f', fixture(name)]);
    expect(code).toBe(0);
    expect(stderr).toContain(`INFO: configuration file "${fixture(name)}" is valid`);
    expect(stderr.some((l) => l.startsWith('NOTICE: these repmgr keys are accepted but not used by pgvigil: ') && l.includes('promote_command'))).toBe(true);
    expect(stderr.some((l) => l.startsWith('ERROR'))).toBe(false);
    // Every key once, with its source.
    for (const key of CONFIG_KEY_NAMES) expect(stdout.filter((l) => l.startsWith(`${key}=`)), key).toHaveLength(1);
  });

  it.each(readdirSync(fileURLToPath(new URL('../fixtures/config/', import.meta.url))).filter((f) => f.startsWith('seed-')))(
    'accepts %s, copied verbatim from a seed document',
    async (name) => {
      const { code, stderr } = await run(['config', 'check', '-f', fixture(name)]);
      expect(code).toBe(0);
      expect(stderr.filter((l) => l.startsWith('ERROR'))).toEqual([]);
    },
  );

  it('shows each value with its source: file line, default or environment variable', async () => {
    const { code, stdout } = await run(['config', 'check', '-f', fixture('seed-003-final.repmgr.conf')], { PGVIGIL_CLUSTER_ID: 'orders' });
    expect(code).toBe(0);
    expect(stdout).toContainEqual(expect.stringMatching(/^node_id=3 +# file line 1$/));
    expect(stdout).toContainEqual(expect.stringMatching(/^reconnect_attempts=2 +# file line 10$/));
    expect(stdout).toContainEqual(expect.stringMatching(/^priority=100 +# default$/));
    expect(stdout).toContainEqual(expect.stringMatching(/^cluster_id='orders' +# env PGVIGIL_CLUSTER_ID$/));
  });

  it('accepts the shipped example configuration', async () => {
    const { code, stderr } = await run(['config', 'check', '-f', example]);
    expect(code).toBe(0);
    expect(stderr.filter((l) => l.startsWith('NOTICE'))).toEqual([]);
  });

  it('prints an effective configuration that reads back as the same configuration', async () => {
    const source = fixture('seed-001-section-1.4.repmgr.conf');
    const { stdout } = await run(['config', 'check', '-f', source]);
    const reread = parseConfig(stdout.join('\n'), 'printed').config;
    expect(reread).toEqual(parseConfig((await import('node:fs')).readFileSync(source, 'utf8'), source).config);
  });

  it('fails with exit 1 naming line 7 and priority for priority=abc on line 7', async () => {
    const file = writeConf([...BASE, '# placement', "location='eu-west-1a'", 'priority=abc', 'failover=automatic'].join('\n'));
    const { code, stderr, stdout } = await run(['config', 'check', '-f', file]);
    expect(code).toBe(1);
    expect(stderr[0]).toBe(`ERROR: ${file}:7: "priority": expected an integer from 0 to 2147483647, got "abc"`);
    expect(stdout).toEqual([]);
  });

  it('prints every problem of the file, one ERROR line each, and exits 1', async () => {
    const file = writeConf(["node_name='node1'", 'priority=abc', 'failover=auto', "conninfo='host=db1 prot=5432'", "data_directory='/pg'"].join('\n'));
    const { code, stderr } = await run(['config', 'check', '-f', file]);
    expect(code).toBe(1);
    expect(stderr.filter((l) => l.startsWith('ERROR:'))).toEqual([
      `ERROR: ${file}:2: "priority": expected an integer from 0 to 2147483647, got "abc"`,
      `ERROR: ${file}:3: "failover": expected one of automatic, manual, got "auto"`,
      `ERROR: ${file}:4: "conninfo": invalid conninfo: unknown connection option "prot"`,
      `ERROR: ${file}: "node_id": required key is missing: expected node_id=<an integer from 1 to 2147483647>`,
    ]);
    expect(stderr.at(-1)).toMatch(/^HINT: 4 problems found/);
  });

  it('names a bad environment variable', async () => {
    const file = writeConf(BASE.join('\n'));
    const { code, stderr } = await run(['config', 'check', '-f', file], { AWS_REGION: 'mars' });
    expect(code).toBe(1);
    expect(stderr[0]).toBe('ERROR: environment variable AWS_REGION: "aws_region": expected an AWS region such as eu-west-1, got "mars"');
  });

  it('fails with exit 1 naming a file that does not exist', async () => {
    const missing = join(dir, 'nope.conf');
    const { code, stderr } = await run(['config', 'check', '-f', missing]);
    expect(code).toBe(1);
    expect(stderr[0]).toBe(`ERROR: ${missing}: cannot read the configuration file: no such file`);
  });

  it('fails with exit 1 when given a directory', async () => {
    const { code, stderr } = await run(['config', 'check', '-f', dir]);
    expect(code).toBe(1);
    expect(stderr[0]).toBe(`ERROR: ${dir}: cannot read the configuration file: it is a directory`);
  });

  it.each([
    ["conninfo='host=db1 user=repmgr password=Hunter2-secret dbname=repmgr'", "conninfo='host=db1 user=repmgr dbname=repmgr'"],
    ["conninfo='postgresql://repmgr:Hunter2-secret@db1/repmgr?sslpassword=Hunter2-secret'", "conninfo='postgresql://repmgr@db1/repmgr'"],
  ])('never prints the password of %s', async (line, shown) => {
    const file = writeConf([...BASE, line].join('\n'));
    for (const argv of [['config', 'check', '-f', file], ['config', 'check', '-f', file, '--json']]) {
      const { code, stdout, stderr } = await run(argv);
      expect(code).toBe(0);
      expect([...stdout, ...stderr].join('\n')).not.toContain('Hunter2');
    }
    const { stdout } = await run(['config', 'check', '-f', file]);
    expect(stdout).toContainEqual(expect.stringMatching(new RegExp(`^${shown.replace(/[?.*+()[\]\\]/g, '\\$&')} +# file line 5$`)));
  });

  it('prints the configuration, sources and notices as JSON with --json', async () => {
    const file = writeConf([...BASE, "promote_command='repmgr standby promote'"].join('\n'));
    const { code, stdout } = await run(['config', 'check', '-f', file, '--json'], { PGVIGIL_STATE_TABLE: 'pgvigil-test' });
    expect(code).toBe(0);
    const result = JSON.parse(stdout.join('\n'));
    expect(result.valid).toBe(true);
    expect(result.file).toBe(file);
    expect(result.config.node_id).toBe(1);
    expect(result.config.state_table).toBe('pgvigil-test');
    expect(result.sources.node_id).toEqual({ source: 'file', line: 1 });
    expect(result.sources.state_table).toEqual({ source: 'env', variable: 'PGVIGIL_STATE_TABLE' });
    expect(result.sources.priority).toEqual({ source: 'default' });
    expect(result.notices).toContainEqual('this repmgr key is accepted but not used by pgvigil: promote_command (line 5)');
  });

  it('prints the problems as JSON with --json and exits 1', async () => {
    const file = writeConf([...BASE, 'priority=abc'].join('\n'));
    const { code, stdout, stderr } = await run(['config', 'check', '-f', file, '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(stdout.join('\n'))).toEqual({ file, valid: false, problems: [{ file, line: 5, key: 'priority', message: 'expected an integer from 0 to 2147483647, got "abc"' }] });
    expect(stderr[0]).toMatch(/^ERROR: .*:5: "priority"/);
  });

  it('is listed in pgvigil --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout.some((l) => /^ {2}config check +check a repmgr\.conf-format configuration file/.test(l))).toBe(true);
  });
});

describe('resolveConfigPath', () => {
  it('uses the file given with -f', () => {
    expect(resolveConfigPath('/x/repmgr.conf', '/cwd', () => false)).toBe('/x/repmgr.conf');
  });

  it('falls back to repmgr\'s locations in order', () => {
    expect(resolveConfigPath(undefined, '/cwd', (p) => p === '/etc/repmgr.conf' || p === '/etc/pgvigil/repmgr.conf')).toBe('/etc/pgvigil/repmgr.conf');
    expect(resolveConfigPath(undefined, '/cwd', () => true)).toBe('/cwd/repmgr.conf');
  });

  it('names every place it looked when there is no file', () => {
    expect(() => resolveConfigPath(undefined, '/cwd', () => false)).toThrow(ConfigError);
    expect(() => resolveConfigPath(undefined, '/cwd', () => false)).toThrow(/\/cwd\/repmgr\.conf, \/etc\/pgvigil\/repmgr\.conf, \/etc\/repmgr\.conf/);
  });
});
