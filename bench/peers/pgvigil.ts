/**
 * pgvigil's side of `bench:peers`: the real sandbox (`Sandbox.up`, what `npm start` brings up)
 * driven only through its public drill functions — `runDrill` heals the sandbox to a healthy
 * 3-node cluster, starts the same write loop through the Elastic IP proxy, injects the drill's
 * fault and judges the run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../../build/index.js';
import { Sandbox } from '../../sandbox/index.js';
import { SCENARIOS, controllerTail, pgNodes, query, runDrill, socketTarget } from '../../sandbox/drills/index.js';
import { freePort } from '../../sandbox/ports.js';
import type { FaultName, RunRecord } from './stats.js';

export async function upPgvigil(dir: string, log: (line: string) => void): Promise<Sandbox> {
  // The sandbox runs the built agent, controller and Lambda code.
  await ensureBuilt((l) => log(`pgvigil: ${l}`));
  return Sandbox.up({ dir, vipPort: await freePort(), progress: (l) => log(`pgvigil: ${l}`) });
}

/** The drill's steps, from the fault, as one line (where the time went). */
export function stepsLine(timings: Record<string, number | null | undefined>): string {
  const steps = ['detected', 'saga_claimed', 'fenced', 'promoted', 'vip_moved', 'first_write_via_vip'];
  return steps.map((s) => `${s} ${typeof timings[s] === 'number' ? `${timings[s]} ms` : '—'}`).join(', ');
}

/** One drill as a run record: fault → first write acknowledged through the VIP once it moved. */
export async function measurePgvigil(sandbox: Sandbox, fault: FaultName, round: number, log: (line: string) => void): Promise<RunRecord> {
  let r;
  try {
    r = await runDrill(sandbox, SCENARIOS[fault], { log });
  } catch (error) {
    log(`pgvigil: ${fault} failed; where the sandbox stands:\n${await diagnose(sandbox)}`);
    throw error;
  }
  log(`pgvigil ${fault}: ${stepsLine(r.timings_ms)}`);
  const lost = r.acked_writes_lost === null || r.direct_acked_writes_lost === null ? null : r.acked_writes_lost + r.direct_acked_writes_lost;
  return {
    round,
    system: 'pgvigil',
    fault,
    ok: r.ok,
    problems: r.problems,
    to_new_primary_ms: r.timings_ms.first_write_via_vip,
    write_outage_ms: r.write_outage_ms,
    acked_writes: r.acked_writes,
    acked_writes_lost: lost,
    old_primary: r.old_primary,
    new_primary: r.failover_happened ? r.new_primary : null,
    in_place: false,
    notes: [...r.notes, stepsLine(r.timings_ms)],
  };
}

/** Each node's replication as its own server sees it, and the last lines of its agent and the controller. */
async function diagnose(sandbox: Sandbox): Promise<string> {
  const lines: string[] = [];
  for (const node of pgNodes(sandbox)) {
    try {
      const rows = await query<Record<string, unknown>>(
        socketTarget(node),
        `SELECT pg_is_in_recovery() AS recovery,
           (SELECT string_agg(application_name || ':' || state || ':' || coalesce(sync_state, '-'), ' ') FROM pg_stat_replication) AS senders,
           (SELECT status || ' from ' || coalesce(sender_host, '?') || ' tl ' || received_tli FROM pg_stat_wal_receiver LIMIT 1) AS receiver`,
      );
      lines.push(`${node.node_name}: ${JSON.stringify(rows[0])}`);
    } catch (error) {
      lines.push(`${node.node_name}: no answer (${(error as Error).message})`);
    }
    try {
      const agentLog = readFileSync(join(sandbox.supervisor.logDir, `${node.node_name}.agent.log`), 'utf8').trim().split('\n');
      lines.push(...agentLog.slice(-6).map((l) => `  agent: ${l.slice(0, 300)}`));
    } catch {
      // no log
    }
  }
  lines.push(`controller:\n${controllerTail(sandbox, 10)}`);
  return lines.join('\n');
}
