import { defineConfig } from 'vitest/config';

// The SDK's notice that future versions need Node 22 is noise in test output (Lambda runs 22+).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// The projects that run the built programs (dist/) rebuild what is stale first.
const globalSetup = ['test/support/build.ts'];

// One project per kind of test (STYLE.md): `npm test` runs them all.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Property tests run thousands of cases: on a busy 2-core machine a few take several
          // seconds, which is not a failure (timing targets are benchmarks, not tests).
          testTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          globalSetup,
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file starts its own moto server and PostgreSQL nodes and mostly waits on them
          // (leases, heartbeats, replication): three at once keep 2 cores busy without starving any.
          maxWorkers: 3,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          name: 'e2e',
          globalSetup,
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
      {
        test: {
          name: 'infra',
          globalSetup,
          include: ['test/infra/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // Synthesis and bundling are CPU-bound: one file per core.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
