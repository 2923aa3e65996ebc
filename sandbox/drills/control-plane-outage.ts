/**
 * control-plane-outage and primary-cut-from-aws: hosts cut from the AWS endpoint (every request on
 * their AWS proxy route held unanswered, as when DynamoDB, its VPC endpoint or the credentials fail)
 * for 30 s (six leases), while PostgreSQL and the hosts' network stay up. Failsafe mode keeps the
 * primary serving on its standbys' confirmations (docs/architecture.md, "Failsafe mode").
 */
import { PgvigilError } from '../../core/errors.js';
import { CONTROL_PLANE_ROUTE, type Sandbox } from '../index.js';
import { sleep } from './heal.js';
import type { DrillContext, Scenario } from './scenario.js';

/** How long AWS stays unreachable: six leases (the sandbox's is 5 s): only failsafe mode keeps a primary serving that long. */
export const AWS_CUT_MS = 30_000;

function proxyOf(sandbox: Sandbox): NonNullable<Sandbox['awsProxy']> {
  if (!sandbox.awsProxy) throw new PgvigilError('BAD_ARGUMENT', 'this sandbox has no AWS proxy: hosts cannot be cut from AWS', { hint: 'bring the sandbox up again with this pgvigil' });
  return sandbox.awsProxy;
}

async function cutFromAws(ctx: DrillContext, routes: string[]): Promise<void> {
  const proxy = proxyOf(ctx.sandbox);
  for (const route of routes) await proxy.set(route, { blackhole: true });
  ctx.notes.push(`AWS unreachable from ${routes.join(', ')} for ${AWS_CUT_MS / 1000} s`);
  await sleep(AWS_CUT_MS);
  await heal(ctx);
  ctx.marks.aws_restored = Date.now();
}

async function heal(ctx: DrillContext): Promise<void> {
  await proxyOf(ctx.sandbox).clear();
}

/** A drill that cuts `routes(ctx)` from AWS for {@link AWS_CUT_MS}: no failover, writes keep flowing. */
function awsCut(name: Scenario['name'], summary: string, proves: string, routes: (ctx: DrillContext) => string[]): Scenario {
  return {
    name,
    summary,
    proves,
    failoverExpected: false,
    needsNetns: true,
    writesKeepFlowing: true,
    expectEvents: ['failsafe_entered', 'failsafe_left'],
    // The cut and 10 s after it (inject returns at the heal).
    observeMs: AWS_CUT_MS + 10_000,
    inject: (ctx) => cutFromAws(ctx, routes(ctx)),
    undo: heal,
  };
}

export const controlPlaneOutage = awsCut(
  'control-plane-outage',
  'cut every host and the controller from AWS for 30 s; PostgreSQL and the network between hosts stay up',
  "with failsafe mode, a primary that cannot reach DynamoDB keeps serving on its standbys' confirmations: no fence, no failover, writes keep flowing through the VIP and the writer route, and after the heal the lease is renewed as usual (failsafe_entered, failsafe_left)",
  (ctx) => [...ctx.sandbox.plan.nodes.map((n) => n.node_name), CONTROL_PLANE_ROUTE],
);

export const primaryCutFromAws = awsCut(
  'primary-cut-from-aws',
  "cut only the primary's host from AWS for 30 s; it still reaches its standbys",
  'a primary that alone cannot reach DynamoDB keeps serving while every standby confirms it still sees it, and no standby is promoted meanwhile: no failover, writes keep flowing through the VIP and the writer route',
  (ctx) => [ctx.oldPrimary.node_name],
);
