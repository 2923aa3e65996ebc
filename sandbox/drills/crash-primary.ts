/** crash-primary: kill -9 the primary's postmaster; its host, agent and network stay up. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import type { PlanNode } from '../cluster-plan.js';
import type { DrillContext, Scenario } from './scenario.js';

/** The pid of a node's postmaster (from postmaster.pid); throws when there is none. */
export function postmasterPid(node: PlanNode): number {
  const file = join(node.dataDirectory, 'postmaster.pid');
  let pid = NaN;
  try {
    pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  } catch {
    // no server running
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new PgvigilError('SYS_FAILURE', `no postmaster pid in ${file}`);
  return pid;
}

/** Sends SIGKILL to the postmaster of the old primary (from postmaster.pid). */
export function killPostmaster(ctx: Pick<DrillContext, 'oldPrimary'>): number {
  const pid = postmasterPid(ctx.oldPrimary);
  process.kill(pid, 'SIGKILL');
  return pid;
}

export const crashPrimary: Scenario = {
  name: 'crash-primary',
  summary: "kill -9 the primary's postmaster (host, agent and network stay up)",
  proves:
    'the agent and the standbys see the server gone, the controller fails over to a standby, the VIP follows it, the old primary is fenced and no acknowledged write is lost',
  failoverExpected: true,
  async inject(ctx) {
    const pid = killPostmaster(ctx);
    ctx.notes.push(`killed postmaster pid ${pid} on ${ctx.oldPrimary.node_name}`);
  },
};
