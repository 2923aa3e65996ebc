/**
 * The CDK app of `cdk.json` (`npx tsx infra/app.ts`, after rebuilding what is stale in dist/). Two stacks:
 * - `pgvigil`: the control plane alone, for clusters you already run (context `pgvigil:clusters`);
 * - `pgvigil-example`: a complete demo (VPC, three PostgreSQL nodes, a witness, its own control plane).
 *
 * Context (cdk.json or `-c key=value`):
 * - `pgvigil:clusters` — comma-separated cluster ids (default `main`), each optionally `id=<routes>`
 *   joined by `+`: `eip`, `eipalloc-…` (import an existing Elastic IP), `route53:<zone>/<name>`
 *   (see parseClusters);
 * - `pgvigil:documentPrefix` — SSM document prefix of the `pgvigil` stack (default `pgvigil`);
 * - `pgvigil:example` — `false` leaves the example stack out;
 * - `pgvigil:exampleClusterId`, `pgvigil:availabilityZones` (comma-separated, three).
 * Account and Region come from the CLI's environment (CDK_DEFAULT_ACCOUNT/REGION) when set;
 * otherwise the stacks are environment-agnostic, so `cdk synth` needs no credentials or network.
 */
import { App } from 'aws-cdk-lib';
import { PgvigilControlPlaneStack, parseClusters } from './control-plane-stack.js';
import { PgvigilExampleStack } from './example-stack.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(`pgvigil:${key}`);
  return value === undefined || value === null || value === '' ? undefined : String(value);
};

const env =
  process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined;

new PgvigilControlPlaneStack(app, 'pgvigil', {
  env,
  controlPlane: {
    clusters: parseClusters(context('clusters') ?? 'main'),
    documentPrefix: context('documentPrefix'),
  },
});

if (context('example') !== 'false') {
  new PgvigilExampleStack(app, 'pgvigil-example', {
    env,
    clusterId: context('exampleClusterId'),
    availabilityZones: context('availabilityZones')?.split(',').map((s) => s.trim()),
  });
}

app.synth();
