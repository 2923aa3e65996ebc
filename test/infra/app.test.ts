import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const outdir = mkdtempSync(join(tmpdir(), 'pgvigil-app-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the CDK app of cdk.json', () => {
  it('synthesizes both stacks without credentials or an AWS environment', () => {
    const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as Record<string, unknown>;
    // The Lambda code is the build's (dist/functions): the app rebuilds what is stale first.
    expect(cdkJson.app).toBe('npx tsx build/index.ts --if-stale && npx tsx infra/app.ts');
    expect(cdkJson).toMatchObject({ versionReporting: false, notices: false, 'cli-telemetry': false });

    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), CDK_OUTDIR: outdir };
    // The command as the CDK CLI runs it (through a shell).
    const run = spawnSync('sh', ['-c', cdkJson.app as string], { cwd: root, env, encoding: 'utf8', timeout: 240_000 });
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    for (const stack of ['pgvigil', 'pgvigil-example']) {
      const file = join(outdir, `${stack}.template.json`);
      expect(existsSync(file), file).toBe(true);
      const text = readFileSync(file, 'utf8');
      // Environment-agnostic: no account or Region baked in, and the real deployment's bootstrap check is kept.
      expect(text).not.toMatch(/\b\d{12}\b/);
      expect(JSON.parse(text).Rules?.CheckBootstrapVersion).toBeDefined();
    }
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { type: string }> };
    expect(Object.keys(manifest.artifacts).filter((k) => manifest.artifacts[k]!.type === 'aws:cloudformation:stack').sort()).toEqual([
      'pgvigil',
      'pgvigil-example',
    ]);
  });
});
