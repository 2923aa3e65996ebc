// Shared start-up of the `pgvigil` and `pgvigil-agent` commands: runs the TypeScript sources
// directly through tsx, so a clone works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

/** Imports `entry` (a module exporting `main(argv)`) and sets the exit code from its result. */
export async function run(entry) {
  // The AWS SDK's notice that its 2027 releases need Node 22 is not for operators on every run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Output piped into `head` closes stdout early: that is not an error.
  process.stdout.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  register();
  const { main } = await import(entry);
  process.exitCode = await main(process.argv.slice(2));
}
