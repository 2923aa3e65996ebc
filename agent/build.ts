/**
 * Builds the single-file agent that systemd runs (`npm run build:agent` → dist/pgvigil-agent.mjs).
 * bench/agent.ts builds with the same options, so the benchmark measures what is shipped.
 *
 * `mainFields: ['module', 'main']`: the AWS SDK's packages ship CommonJS under `main`, which esbuild
 * cannot tree-shake, and ES modules under `module`. From the ES modules only the DynamoDB commands
 * and schemas the state store uses end up in the bundle (1.2 → 1.0 MB), and the agent's heap after
 * loading is about 1.5 MB smaller (docs/agent.md, "Figures").
 *
 * `define: { Response: 'undefined' }`: pg (lib/stream.js) asks `typeof Response == 'function'` when
 * it loads, to detect Cloudflare Workers. On Node 20 that one question loads Node's whole built-in
 * fetch implementation (undici) for nothing: ~5.5 MB of the agent's resident memory (59 → 54 MB,
 * docs/agent.md, "Figures"). Nothing in the agent uses fetch (the SDK's handler is node:http), and
 * esbuild replaces only the free global `Response`, never a local or a property of that name.
 *
 * `zodFreeModel()`: zod's code costs the agent ~3 MB of memory, used or not (54 → 51 MB). In the
 * bundle, core/model.ts is replaced by agent/bundle-model.ts, whose schemas are stand-ins backed by
 * core/model-check's validators (exactly as strict, same values); buildAgent fails if zod gets into
 * the bundle some other way.
 *
 * Uses esbuild's JavaScript API, which finds its platform binary in @esbuild/<platform> and so works
 * even when npm has not run esbuild's postinstall script.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const MODEL_FILE = fileURLToPath(new URL('../core/model.ts', import.meta.url));
const BUNDLE_MODEL_FILE = fileURLToPath(new URL('./bundle-model.ts', import.meta.url));

/** Resolves every import of core/model.js in the bundle to agent/bundle-model.ts (see there). */
export function zodFreeModel(): Plugin {
  return {
    name: 'pgvigil-zod-free-model',
    setup(b) {
      b.onResolve({ filter: /(^|\/)model\.js$/ }, (args) => {
        if (args.namespace !== 'file' || args.importer === BUNDLE_MODEL_FILE) return undefined;
        return resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts') === MODEL_FILE ? { path: BUNDLE_MODEL_FILE } : undefined;
      });
    },
  };
}

export function agentBuildOptions(outfile: string): BuildOptions {
  return {
    // Found next to this file, so the build works from any working directory (the sandbox builds it).
    entryPoints: [fileURLToPath(new URL('./entry.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    minify: true,
    outfile,
    logLevel: 'warning',
    define: { Response: 'undefined' },
    plugins: [zodFreeModel()],
    // pg and parts of the SDK still call require() for Node built-ins.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  };
}

export async function buildAgent(outfile = 'dist/pgvigil-agent.mjs'): Promise<void> {
  const result = await build({ ...agentBuildOptions(outfile), metafile: true });
  const zod = Object.keys(result.metafile.inputs).find((path) => path.includes('node_modules/zod/'));
  if (zod) throw new Error(`zod is in the agent bundle (${zod}): import core/model.ts's schemas in agent code only as types, or add what is missing to agent/bundle-model.ts`);
}

/**
 * The Node flags of deploy/systemd/pgvigil-agent.service's ExecStart, so the benchmark and the
 * bundle's test run the process systemd runs.
 */
export async function systemdNodeFlags(): Promise<string[]> {
  const unit = await readFile(fileURLToPath(new URL('../deploy/systemd/pgvigil-agent.service', import.meta.url)), 'utf8');
  const exec = /^ExecStart=\S*node\s+(.*?)\s+\S*pgvigil-agent\.mjs\b/m.exec(unit);
  if (!exec?.[1]) throw new Error('ExecStart of deploy/systemd/pgvigil-agent.service does not run node … pgvigil-agent.mjs');
  return exec[1].split(/\s+/);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildAgent(process.argv[2]);
  console.log(`built ${process.argv[2] ?? 'dist/pgvigil-agent.mjs'}`);
}
