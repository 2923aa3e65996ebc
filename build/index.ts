/**
 * The one build (`npm run build`; npm's `prepare` runs it on `npm ci` and `npm pack`; `npm start`
 * and the test projects that run processes call {@link ensureBuilt}, which rebuilds the stale
 * parts). Everything that runs outside a test runner comes from here:
 *
 * - `cli`: dist/pgvigil.mjs + dist/chunks/, and dist/pgvigil.cjs, the installed command's entry
 *   ({@link commandOptions}). Code splitting keeps each command's heavy modules (the
 *   AWS SDK, pg, the sandbox, aws-cdk-lib) in chunks loaded only when that command runs; the build
 *   fails if a package gets into what every start loads ({@link checkStartup}). The processes the
 *   sandbox starts (dist/sandbox/) are entry points of the same build and share its chunks.
 * - `agent`: dist/pgvigil-agent.mjs, one file, with agent/build.ts's options (what systemd runs).
 * - `functions`: dist/functions/<name>/index.mjs, each Lambda handler: the code the construct deploys.
 * - `infra` and `types`: dist/infra/index.mjs and dist/types/, `pgvigil/infra` for a CDK app.
 * - `host`: dist/pgvigil-host.zip (build/host-package.ts).
 *
 * aws-cdk-lib and constructs are never bundled: a CDK app must share one copy with its constructs.
 */
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { agentBuildOptions } from '../agent/build.js';
import { PGVIGIL_VERSION } from '../core/version.js';
import { ARTIFACTS, LAMBDA_HANDLERS, LAMBDA_NODE_MAJOR, SANDBOX_PROCESSES, packageRoot } from './artifacts.js';
import { POSTGRESQL_DROP_IN, SYSTEMD_UNIT, buildHostPackage } from './host-package.js';
import { COMMON_INPUTS, PARTS, readManifest, staleParts, writeManifest, type Part, type PartRecord } from './manifest.js';

/** Packages the CDK app provides (peer dependencies), never bundled. */
const PEER_PACKAGES = ['aws-cdk-lib', 'constructs'];

/** ESM output still meets CommonJS dependencies that call require() for Node built-ins. */
const REQUIRE_SHIM = "import { createRequire as __pgvigilCreateRequire } from 'node:module'; const require = __pgvigilCreateRequire(import.meta.url);";

/** The full program, every command's code: loaded by a command that runs, never by a start that prints help. */
const STARTUP_NEVER = 'cli/main.ts';

/**
 * Swaps cli/cli-spec.ts for its value, computed here from the sources: the CLI's entry then
 * answers `--help` and `--version` without loading any command (cli/entry.ts). The help is still
 * rendered from the command definitions, by the same code, through the embedded data.
 */
async function cliSpecPlugin(root: string): Promise<Plugin> {
  const { CLI_SPEC } = await import('../cli/cli-spec.js');
  const file = join(root, 'cli', 'cli-spec.ts');
  return {
    name: 'pgvigil-cli-spec',
    setup(b) {
      b.onLoad({ filter: /[\\/]cli[\\/]cli-spec\.ts$/ }, (args) =>
        args.path === file ? { contents: `export const CLI_SPEC = JSON.parse(${JSON.stringify(JSON.stringify(CLI_SPEC))});`, loader: 'js' } : undefined,
      );
    },
  };
}

function cliOptions(root: string, plugins: Plugin[] = []): BuildOptions {
  return {
    plugins,
    absWorkingDir: root,
    entryPoints: {
      pgvigil: 'cli/entry.ts',
      ...Object.fromEntries(SANDBOX_PROCESSES.map((name) => [`${ARTIFACTS.sandboxProcesses.replace(/^dist\//, '')}/${name}`, `sandbox/${name}.ts`])),
    },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    minify: true,
    outdir: 'dist',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    // As for the agent (agent/build.ts): pg's check for a global Response would load undici.
    define: { Response: 'undefined' },
    external: PEER_PACKAGES.flatMap((p) => [p, `${p}/*`]),
    banner: { js: REQUIRE_SHIM },
    logLevel: 'warning',
  };
}

/**
 * dist/pgvigil.cjs (cli/command-entry.ts): CommonJS and one file, so help and version load no ES
 * module; it holds the embedded spec and the framework, and imports dist/pgvigil.mjs to run a
 * command. {@link checkCommandEntry} keeps the commands' code and every package out of it.
 */
function commandOptions(root: string, plugins: Plugin[]): BuildOptions {
  return {
    plugins,
    absWorkingDir: root,
    entryPoints: ['cli/command-entry.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    outfile: ARTIFACTS.cliCommand,
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  };
}

function lambdaOptions(root: string, name: string): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: [`functions/handlers/${name}.ts`],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${LAMBDA_NODE_MAJOR}`,
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    // The SDK versions the tests ran against, not the runtime's: nothing is external.
    outfile: `${ARTIFACTS.functions}/${name}/index.mjs`,
    banner: { js: REQUIRE_SHIM },
    logLevel: 'warning',
  };
}

function infraOptions(root: string): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: ['infra/index.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: ARTIFACTS.infra,
    external: PEER_PACKAGES.flatMap((p) => [p, `${p}/*`]),
    logLevel: 'warning',
  };
}

/**
 * The CLI's start-up set: the entry and every chunk it imports statically. It must hold no
 * package (they are what make a start slow) and not the program with its commands (cli/main.ts:
 * the entry answers help from the embedded spec, {@link cliSpecPlugin}); the error names the
 * import chain that brought one in. Returns the bytes every start loads.
 */
export function checkStartup(metafile: Metafile): number {
  const { inputs, outputs } = metafile;
  const startup = new Set<string>();
  const queue: string[] = [ARTIFACTS.cli];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (startup.has(file)) continue;
    startup.add(file);
    for (const i of outputs[file]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) queue.push(i.path);
  }
  const loaded = new Set([...startup].flatMap((o) => Object.keys(outputs[o]?.inputs ?? {})));
  const pkg = [...loaded].find((input) => input.startsWith('node_modules/') || input === STARTUP_NEVER);
  if (pkg) {
    // The static-import path from the entry to the package, for the error.
    const from = new Map<string, string>();
    const walk = ['cli/entry.ts'];
    for (let i = 0; i < walk.length; i++) {
      const file = walk[i] as string;
      for (const imp of inputs[file]?.imports ?? []) {
        if (imp.kind !== 'import-statement' || !loaded.has(imp.path) || from.has(imp.path)) continue;
        from.set(imp.path, file);
        walk.push(imp.path);
      }
    }
    const chain = [pkg];
    while (from.has(chain[0] as string)) chain.unshift(from.get(chain[0] as string) as string);
    const first = chain.findIndex((f) => f.startsWith('node_modules/') || f === STARTUP_NEVER);
    throw new Error(`the CLI's start-up loads ${chain[first]}:\n  ${chain.slice(0, first + 1).join('\n  → ')}\nimport it with await import() where it is used`);
  }
  return [...startup].reduce((n, o) => n + (outputs[o]?.bytes ?? 0), 0);
}

/**
 * The installed command's entry (dist/pgvigil.cjs) is all it loads for help: no package and not
 * the program with its commands in it, and no import but Node's built-ins and, at run time, the ES
 * module entry. Returns its bytes.
 */
export function checkCommandEntry(metafile: Metafile): number {
  const output = metafile.outputs[ARTIFACTS.cliCommand];
  if (!output) throw new Error(`the build wrote no ${ARTIFACTS.cliCommand}`);
  const bundled = Object.keys(output.inputs).find((input) => input.startsWith('node_modules/') || input === STARTUP_NEVER);
  if (bundled) throw new Error(`${ARTIFACTS.cliCommand} holds ${bundled}: the installed command's help must load neither a package nor the commands`);
  const imported = output.imports.find((i) => !i.external || !i.path.startsWith('node:'));
  if (imported) throw new Error(`${ARTIFACTS.cliCommand} imports ${imported.path}: it must be one file that needs only Node's built-ins`);
  return output.bytes;
}

/** The part's record from one esbuild run: what it read (no node_modules) and wrote. */
function record(startedAt: number, metafile: Metafile, extra: string[] = []): PartRecord {
  // (Inputs with a colon are esbuild's virtual modules, such as `(disabled):fs`.)
  const read = Object.keys(metafile.inputs).filter((i) => !i.startsWith('node_modules/') && !i.includes(':'));
  return { startedAt, inputs: [...new Set([...COMMON_INPUTS, ...extra, ...read])].sort(), outputs: Object.keys(metafile.outputs).sort() };
}

async function esbuild(options: BuildOptions): Promise<Metafile> {
  const { build } = await import('esbuild');
  return (await build({ ...options, metafile: true })).metafile;
}

/** Declarations of `pgvigil/infra` (TypeScript's compiler; settings in tsconfig.types.json). */
async function emitTypes(root: string, startedAt: number): Promise<PartRecord> {
  const { default: ts } = await import('typescript');
  rmSync(join(root, ARTIFACTS.types), { recursive: true, force: true });
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.types.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!config) throw new Error('tsconfig.types.json cannot be read');
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const emitted = program.emit(undefined, undefined, undefined, true);
  const diagnostics = [...config.errors, ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(`declarations of pgvigil/infra:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
  const read = program
    .getSourceFiles()
    .map((f) => relative(root, f.fileName))
    .filter((f) => !f.startsWith('node_modules/') && !f.startsWith('..'));
  publicDeclarations(root);
  return { startedAt, inputs: [...new Set([...COMMON_INPUTS, 'tsconfig.json', 'tsconfig.types.json', ...read])].sort(), outputs: listFiles(root, ARTIFACTS.types) };
}

/**
 * Keeps the declarations `pgvigil/infra` reaches from its index and removes the rest; fails if
 * they import a package a CDK app does not have (only the peer dependencies may be imported: the
 * others are bundled, so a type from one would not resolve in the app).
 */
function publicDeclarations(root: string): void {
  const types = join(root, ARTIFACTS.types);
  const reached = new Set<string>();
  const queue = [join(types, 'infra/index.d.ts')];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (reached.has(file)) continue;
    reached.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      if (spec?.startsWith('.')) queue.push(join(file, '..', spec.replace(/\.js$/, '.d.ts')));
      else if (!PEER_PACKAGES.some((p) => spec === p || spec?.startsWith(`${p}/`))) {
        throw new Error(`declarations of pgvigil/infra: ${relative(root, file)} imports "${spec}", which a CDK app using pgvigil does not have`);
      }
    }
  }
  for (const file of listFiles(root, ARTIFACTS.types)) if (!reached.has(join(root, file))) rmSync(join(root, file));
}

function listFiles(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

/** How each part is built. */
const BUILDERS: Record<Part, (root: string, startedAt: number) => Promise<PartRecord>> = {
  async cli(root, startedAt) {
    // Earlier chunks go: their names carry content hashes, so they would only pile up.
    for (const dir of [ARTIFACTS.cliChunks, ARTIFACTS.sandboxProcesses]) rmSync(join(root, dir), { recursive: true, force: true });
    const spec = await cliSpecPlugin(root);
    const [metafile, command] = await Promise.all([esbuild(cliOptions(root, [spec])), esbuild(commandOptions(root, [spec]))]);
    checkStartup(metafile);
    checkCommandEntry(command);
    for (const file of [ARTIFACTS.cli, ARTIFACTS.cliCommand]) chmodSync(join(root, file), 0o755);
    const [esm, cjs] = [record(startedAt, metafile), record(startedAt, command)];
    return { startedAt, inputs: [...new Set([...esm.inputs, ...cjs.inputs])].sort(), outputs: [...esm.outputs, ...cjs.outputs].sort() };
  },
  async agent(root, startedAt) {
    const options = agentBuildOptions(join(root, ARTIFACTS.agent));
    // A hashbang, so hosts can put the file itself on PATH.
    const metafile = await esbuild({ ...options, absWorkingDir: root, banner: { js: `#!/usr/bin/env node\n${options.banner?.js ?? ''}` } });
    chmodSync(join(root, ARTIFACTS.agent), 0o755);
    return record(startedAt, metafile, ['agent/build.ts']);
  },
  async functions(root, startedAt) {
    rmSync(join(root, ARTIFACTS.functions), { recursive: true, force: true });
    const metafiles = await Promise.all(LAMBDA_HANDLERS.map((name) => esbuild(lambdaOptions(root, name))));
    const records = metafiles.map((m) => record(startedAt, m));
    return { startedAt, inputs: [...new Set(records.flatMap((r) => r.inputs))].sort(), outputs: records.flatMap((r) => r.outputs).sort() };
  },
  async infra(root, startedAt) {
    return record(startedAt, await esbuild(infraOptions(root)));
  },
  types: emitTypes,
  async host(root, startedAt) {
    buildHostPackage(root);
    const packed = [ARTIFACTS.agent, ARTIFACTS.cli, ARTIFACTS.cliCommand, ...listFiles(root, ARTIFACTS.cliChunks), SYSTEMD_UNIT, POSTGRESQL_DROP_IN];
    return { startedAt, inputs: [...new Set([...COMMON_INPUTS, ...packed])].sort(), outputs: [ARTIFACTS.hostPackage] };
  },
};

export interface BuildResult {
  /** The parts built, each with why. */
  built: Map<Part, string>;
  ms: number;
}

/**
 * Builds the given parts (default: all) into dist/ and records them in the manifest. The host
 * package is built last, from the bundles as they are then.
 */
export async function build(parts: Map<Part, string> = new Map(PARTS.map((p) => [p, 'full build'])), root = packageRoot()): Promise<BuildResult> {
  const started = Date.now();
  mkdirSync(join(root, 'dist'), { recursive: true });
  const manifest = readManifest(root) ?? { version: PGVIGIL_VERSION, parts: {} };
  const first = [...parts.keys()].filter((p) => p !== 'host');
  const records = await Promise.all(first.map((p) => BUILDERS[p](root, started)));
  first.forEach((p, i) => (manifest.parts[p] = records[i]));
  manifest.version = PGVIGIL_VERSION;
  writeManifest(manifest, root);
  // After the bundles: rebuilt ones make the host package stale even when it was not asked for.
  const host = parts.get('host') ?? staleParts(root).get('host');
  const built = new Map<Part, string>(first.map((p) => [p, parts.get(p) as string]));
  if (host) {
    manifest.parts.host = await BUILDERS.host(root, Date.now());
    writeManifest(manifest, root);
    built.set('host', host);
  }
  return { built, ms: Date.now() - started };
}

/** Holds dist/.build.lock while `fn` runs: one build at a time per checkout (test projects start together). */
async function withBuildLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(root, 'dist', '.build.lock');
  mkdirSync(join(root, 'dist'), { recursive: true });
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      writeFileSync(lock, String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(lock, 'utf8').trim() || 0);
      if (holder > 0 && !processAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by pid ${holder}`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    unlinkSync(lock);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Rebuilds the stale parts of dist/, if any (what `npm start`, the test projects that run the
 * built programs, and the benchmarks call). A second caller waits for the first and then finds
 * dist/ fresh.
 */
export async function ensureBuilt(log: (line: string) => void = () => undefined, root = packageRoot()): Promise<BuildResult | undefined> {
  return withBuildLock(root, async () => {
    const stale = staleParts(root);
    if (stale.size === 0) return undefined;
    log(`building ${[...stale].map(([p, why]) => `${p} (${why})`).join(', ')}`);
    return build(stale, root);
  });
}

/** One line per artifact with its size, for the build's output. */
export function describeBuild(root = packageRoot()): string[] {
  const kb = (path: string): string => `${(statSync(join(root, path)).size / 1024).toFixed(0)} KB`;
  const chunks = listFiles(root, ARTIFACTS.cliChunks).reduce((n, f) => n + statSync(join(root, f)).size, 0);
  return [
    `${ARTIFACTS.cli}  ${kb(ARTIFACTS.cli)} (+ ${(chunks / 1024).toFixed(0)} KB of per-command chunks in ${ARTIFACTS.cliChunks}/)`,
    `${ARTIFACTS.agent}  ${kb(ARTIFACTS.agent)}`,
    ...LAMBDA_HANDLERS.map((n) => `${ARTIFACTS.functions}/${n}/index.mjs  ${kb(`${ARTIFACTS.functions}/${n}/index.mjs`)}`),
    `${ARTIFACTS.infra}  ${kb(ARTIFACTS.infra)} (declarations in ${ARTIFACTS.types}/)`,
    `${ARTIFACTS.hostPackage}  ${kb(ARTIFACTS.hostPackage)}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = process.argv.includes('--if-stale') ? await ensureBuilt((l) => console.log(l)) : await withBuildLock(packageRoot(), () => build());
  if (result) {
    for (const line of describeBuild()) console.log(line);
    console.log(`built ${[...result.built.keys()].join(', ')} in ${(result.ms / 1000).toFixed(1)} s`);
  }
}
