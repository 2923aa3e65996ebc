/**
 * The package a CDK app depends on (`npm pack`): installed into an empty app by npm, offline (the
 * peer dependencies, aws-cdk-lib and constructs, come from npm's cache through a lockfile taken
 * from this repository's), `import { PgvigilControlPlane } from 'pgvigil/infra'` type-checks with
 * the settings `cdk init app --language typescript` writes, and the app synthesizes a control
 * plane whose Lambda code is the installed package's.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, LAMBDA_HANDLERS, packageRoot } from '../../build/artifacts.js';

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; license: string; bin: Record<string, string>; engines: unknown; peerDependencies: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'pgvigil-pack-'));
const app = join(dir, 'app');
let tarball: string;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} → ${result.status}\n${result.stdout}${result.stderr}`);
  return result;
}

type LockEntry = { dependencies?: Record<string, string>; inBundle?: boolean; dev?: boolean; devOptional?: boolean };

/**
 * The app's package-lock.json: pgvigil from the tarball, and its peer dependencies with their own
 * dependencies exactly as this repository's lockfile has them (resolved and integrity included),
 * so npm installs from its cache without asking the registry.
 */
function appLockfile(tarballName: string): unknown {
  const repo = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(dir, tarballName))).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', version: '1.0.0', dependencies: { [pkg.name]: `file:../${tarballName}` } },
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: `file:../${tarballName}`, integrity, license: pkg.license, bin: pkg.bin, engines: pkg.engines, peerDependencies: pkg.peerDependencies },
  };
  const queue = Object.keys(pkg.peerDependencies);
  while (queue.length > 0) {
    const key = `node_modules/${queue.pop() as string}`;
    if (packages[key]) continue;
    for (const [path, entry] of Object.entries(repo)) {
      if (path !== key && !path.startsWith(`${key}/node_modules/`)) continue;
      const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
      packages[path] = kept;
      if (!entry.inBundle) for (const dep of Object.keys(entry.dependencies ?? {})) if (!repo[`${path}/node_modules/${dep}`]) queue.push(dep);
    }
  }
  return { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

beforeAll(() => {
  // The project's setup has just built dist/: packing need not build again.
  const packed = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], root).stdout.trim().split('\n');
  tarball = join(dir, packed[packed.length - 1] as string);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', dependencies: { [pkg.name]: `file:../${packed[packed.length - 1]}` } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLockfile(packed[packed.length - 1] as string), null, 2));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
});

describe('the npm package', () => {
  it('holds the built programs, the Lambda code, pgvigil/infra with its declarations and the host package, and no sources', () => {
    const files = run('tar', ['-tzf', tarball], dir).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const built of [ARTIFACTS.cli, ARTIFACTS.cliCommand, pkg.bin.pgvigil as string, ARTIFACTS.agent, ARTIFACTS.infra, `${ARTIFACTS.types}/infra/index.d.ts`, ARTIFACTS.hostPackage, `${ARTIFACTS.functions}/evaluator/index.mjs`, `${ARTIFACTS.functions}/switchover/index.mjs`, 'deploy/systemd/pgvigil-agent.service']) {
      expect(files).toContain(built);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files).not.toContain(ARTIFACTS.manifest);
  });

  it('installs offline with nothing but its peer dependencies (no build tools, no bundled package), and its commands run', () => {
    const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed.sort()).toEqual(['@aws-cdk', 'aws-cdk-lib', 'constructs', 'pgvigil']);
    expect(run(join(app, 'node_modules/.bin/pgvigil'), ['--version'], app).stdout).toBe(`pgvigil ${pkg.version}\n`);
    expect(run(join(app, 'node_modules/.bin/pgvigil-agent'), ['--version'], app).stdout).toBe(`pgvigil-agent ${pkg.version}\n`);
  });

  it("type-checks an import of PgvigilControlPlane from 'pgvigil/infra' with the tsconfig of cdk init, with the construct's own types", () => {
    const template = JSON.parse(readFileSync(join(root, 'node_modules/aws-cdk/lib/init-templates/app/typescript/tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
    // The template's jest and node types are the app's own choice; this app installs neither.
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ ...template, compilerOptions: { ...template.compilerOptions, types: [] }, include: ['app.ts'] }));
    writeFileSync(
      join(app, 'app.ts'),
      [
        "import { App, Stack } from 'aws-cdk-lib';",
        "import { PgvigilControlPlane } from 'pgvigil/infra';",
        "const stack = new Stack(new App(), 'Db');",
        "const pgvigil = new PgvigilControlPlane(stack, 'Pgvigil', { clusters: [{ clusterId: 'orders' }] });",
        'export const documentName: string = pgvigil.switchoverDocumentName;',
        // Were the types missing (any), this directive would be unused, which is an error too.
        '// @ts-expect-error clusters is required',
        "new PgvigilControlPlane(stack, 'Incomplete', {});",
      ].join('\n'),
    );
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8', timeout: 240_000 });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  });

  it("synthesizes a control plane in the app whose Lambda code is the installed package's bundles", () => {
    writeFileSync(
      join(app, 'synth.mjs'),
      [
        "import { App, Stack } from 'aws-cdk-lib';",
        "import { PgvigilControlPlane } from 'pgvigil/infra';",
        'const app = new App({ outdir: process.argv[2] });',
        "new PgvigilControlPlane(new Stack(app, 'Db'), 'Pgvigil', { clusters: [{ clusterId: 'orders' }] });",
        'app.synth();',
      ].join('\n'),
    );
    const out = join(dir, 'cdk.out');
    run(process.execPath, ['synth.mjs', out], app);
    const template = JSON.parse(readFileSync(join(out, 'Db.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }> };
    const shipped = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => readFileSync(join(out, `asset.${(r.Properties.Code?.S3Key ?? '').replace(/\.zip$/, '')}`, 'index.mjs'), 'utf8'));
    const installed = LAMBDA_HANDLERS.map((name) => readFileSync(join(app, 'node_modules/pgvigil', ARTIFACTS.functions, name, 'index.mjs'), 'utf8'));
    expect(shipped.sort()).toEqual(installed.sort());
  });
});
