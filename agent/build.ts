/**
 * The options of the single-file agent that systemd runs (dist/pgvigil-agent.mjs; `npm run build` uses them).
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
 * No module is swapped: the bundle is the code the tests run. The records are validated with
 * core/schema.ts, which has no dependency; a validation library such as zod cost the agent ~3 MB
 * of memory whether it ran or not (docs/agent.md, "Figures").
 *
 * Uses esbuild's JavaScript API, which finds its platform binary in @esbuild/<platform> and so works
 * even when npm has not run esbuild's postinstall script.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

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
    // pg and parts of the SDK still call require() for Node built-ins.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  };
}

export async function buildAgent(outfile = 'dist/pgvigil-agent.mjs'): Promise<void> {
  await build(agentBuildOptions(outfile));
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
