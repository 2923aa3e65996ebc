/**
 * What both programs do as processes (dist/pgvigil.mjs and dist/pgvigil-agent.mjs) around their
 * `main`: quiet the AWS SDK's Node version notice, treat a closed stdout as the end of output, and
 * exit with main's code.
 */
export async function runAsProcess(main: (argv: string[]) => Promise<number>): Promise<void> {
  // The SDK's notice that its 2027 releases need Node 22 is not for operators on every run (it is
  // printed when a client is created, so setting this before any command runs is early enough).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Output piped into `head` closes stdout early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.exitCode = await main(process.argv.slice(2));
}
