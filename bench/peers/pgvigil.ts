/**
 * pgvigil's side of `bench:peers`: the real sandbox (`Sandbox.up`, what `npm start` brings up)
 * driven only through its public drill functions — `runDrill` heals the sandbox to a healthy
 * 3-node cluster, starts the same write loop through the Elastic IP proxy, injects the drill's
 * fault and judges the run.
 */
import { ensureBuilt } from '../../build/index.js';
import { Sandbox } from '../../sandbox/index.js';
import { SCENARIOS, runDrill } from '../../sandbox/drills/index.js';
import { freePort } from '../../sandbox/ports.js';
import type { FaultName, RunRecord } from './stats.js';

export async function upPgvigil(dir: string, log: (line: string) => void): Promise<Sandbox> {
  // The sandbox runs the built agent, controller and Lambda code.
  await ensureBuilt((l) => log(`pgvigil: ${l}`));
  return Sandbox.up({ dir, vipPort: await freePort(), progress: (l) => log(`pgvigil: ${l}`) });
}

/** One drill as a run record: fault → first write acknowledged through the VIP once it moved. */
export async function measurePgvigil(sandbox: Sandbox, fault: FaultName, round: number, log: (line: string) => void): Promise<RunRecord> {
  const r = await runDrill(sandbox, SCENARIOS[fault], { log });
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
    notes: r.notes,
  };
}
