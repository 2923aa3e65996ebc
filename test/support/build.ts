/**
 * The global setup of the test projects that run pgvigil's programs as processes (integration,
 * e2e, infra): dist/ is rebuilt first when any source is newer than it (build/index.ts), so a test
 * run never exercises a stale build. The unit project runs no process and does not build.
 */
import { ensureBuilt } from '../../build/index.js';

export default async function setup(): Promise<void> {
  await ensureBuilt((line) => console.log(`pgvigil build: ${line}`));
}
