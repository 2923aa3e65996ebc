// Start of the `pgvigil-agent` command: runs its bundle from dist/ (`npm run build`), the code the
// tests run and the hosts install. (`pgvigil` starts from bin/pgvigil.cjs, in CommonJS.)

/** Imports the bundle `file` (relative to dist/), or says how to build it when it is missing. */
export async function run(file) {
  const url = new URL(`../dist/${file}`, import.meta.url);
  try {
    await import(url.href);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(url.pathname)) throw error;
    process.stderr.write(`ERROR: pgvigil is not built: ${url.pathname} is missing\nHINT: run "npm run build" in ${new URL('..', import.meta.url).pathname}\n`);
    process.exitCode = 1;
  }
}
