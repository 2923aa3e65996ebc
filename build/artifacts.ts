/**
 * What `npm run build` produces and where (build/index.ts writes it; the CLI, the construct, the
 * sandbox, the tests and the benchmarks find it here). Light on purpose: it is bundled into the
 * CLI and the construct, so it imports nothing but Node.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgvigilError } from '../core/errors.js';

/** The Lambda handlers: each is bundled from functions/handlers/<name>.ts into its own directory. */
export const LAMBDA_HANDLERS = ['evaluator', 'switchover', 'host-events'] as const;
export type LambdaHandler = (typeof LAMBDA_HANDLERS)[number];

/** The sandbox's own processes (sandbox/<name>.ts): bundled with the CLI, whose chunks they share. */
export const SANDBOX_PROCESSES = ['aws-proxy-main', 'controller-main'] as const;
export type SandboxProcess = (typeof SANDBOX_PROCESSES)[number];

/** Node.js major version of the Lambda runtime; the Lambda bundles target it. */
export const LAMBDA_NODE_MAJOR = 24;

/** Paths of the build's outputs, relative to the package root. */
export const ARTIFACTS = {
  /** The `pgvigil` CLI: this entry, plus the chunks it loads per command. */
  cli: 'dist/pgvigil.mjs',
  /**
   * The installed `pgvigil` command: CommonJS, one file, it answers help and version with no ES
   * module loaded and imports {@link ARTIFACTS.cli} for everything else (cli/command-entry.ts).
   */
  cliCommand: 'dist/pgvigil.cjs',
  cliChunks: 'dist/chunks',
  /** `dist/sandbox/<name>.mjs`: the processes the sandbox starts (see {@link SANDBOX_PROCESSES}). */
  sandboxProcesses: 'dist/sandbox',
  /** The agent, one file: what the systemd unit runs. */
  agent: 'dist/pgvigil-agent.mjs',
  /** `dist/functions/<name>/index.mjs` (+ source map): the code of each Lambda function. */
  functions: 'dist/functions',
  /** `pgvigil/infra` for a CDK app (aws-cdk-lib and constructs stay the app's own). */
  infra: 'dist/infra/index.mjs',
  /** Type declarations of `pgvigil/infra`. */
  types: 'dist/types',
  /** Everything a database host needs, as one zip; see docs/deploy.md, "The host package". */
  hostPackage: 'dist/pgvigil-host.zip',
  /** What the last build read and wrote (for the staleness check). */
  manifest: 'dist/build-manifest.json',
} as const;

let root: string | undefined;

/**
 * The directory of pgvigil's package.json: the repository in a clone, node_modules/pgvigil where
 * installed. Found by walking up from this module, which is the same wherever it is bundled
 * (dist/…) or run from source.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'pgvigil') return (root = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`pgvigil: no package.json of pgvigil above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The absolute path of a build output; NOT_FOUND with the command that builds it when it is missing. */
export function builtArtifact(relative: string): string {
  const path = join(packageRoot(), relative);
  if (!existsSync(path)) {
    throw new PgvigilError('NOT_FOUND', `pgvigil is not built: ${relative} is missing`, { hint: `run "npm run build" in ${packageRoot()}` });
  }
  return path;
}

/** The directory holding one Lambda function's code (index.mjs). */
export function lambdaCodeDir(name: LambdaHandler): string {
  return dirname(builtArtifact(`${ARTIFACTS.functions}/${name}/index.mjs`));
}
