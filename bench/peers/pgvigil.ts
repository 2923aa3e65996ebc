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
import { SCENARIOS, controllerTail, nodeById, pgNodes, query, rejoinNode, runDrill, snapshotOf, socketTarget, storeFor } from '../../sandbox/drills/index.js';
import { freePort } from '../../sandbox/ports.js';
import { observersMs, stepsLine, type FaultName, type RunRecord } from './stats.js';

export async function upPgvigil(dir: string, log: (line: string) => void): Promise<Sandbox> {
  // The sandbox runs the built agent, controller and Lambda code.
  await ensureBuilt((l) => log(`pgvigil: ${l}`));
  // auto_rejoin off, as in the e2e drills: the drills' heal rejoins the old primary itself, and
  // the controller rejoining it at the same moment made the heal's `node rejoin` fail (exit 5).
  // It acts only after the failover, so the figures do not depend on it.
  return Sandbox.up({ dir, vipPort: await freePort(), overrides: { text: 'auto_rejoin=false\n', file: 'bench-peers.conf' }, progress: (l) => log(`pgvigil: ${l}`) });
}

/** One drill as a run record: fault → first write acknowledged through the VIP once it moved. */
export async function measurePgvigil(sandbox: Sandbox, fault: FaultName, round: number, log: (line: string) => void): Promise<RunRecord> {
  let r;
  try {
    await uncascade(sandbox, log);
    r = await runDrill(sandbox, SCENARIOS[fault], { log });
  } catch (error) {
    log(`pgvigil: ${fault} failed; where the sandbox stands:\n${await diagnose(sandbox)}`);
    throw error;
  }
  const oldId = sandbox.plan.nodes.find((n) => n.node_name === r.old_primary)?.node_id ?? -1;
  const steps = stepsLine({ ...r.timings_ms, observers: observersMs(r.events, oldId) });
  log(`pgvigil ${fault}: ${steps}; writer route outage ${r.route_write_outage_ms ?? '—'} ms`);
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
    notes: [...r.notes, steps],
  };
}

/**
 * A standby left streaming from another standby is rejoined to the primary, so the next drill
 * starts with two standbys of the primary. After a dead-host failover the sibling's WAL receiver
 * still points at the old primary, and once that host is back and rejoined as a standby the sibling
 * streams from it (cascaded): the drills' heal, which counts the primary's own standbys, then
 * waits in vain (seen in bench:peers runs, docs/drills.md). Runs only while no operation is in
 * progress: the heal waits for those.
 */
async function uncascade(sandbox: Sandbox, log: (line: string) => void): Promise<void> {
  const { store, close } = storeFor(sandbox);
  try {
    const snapshot = await snapshotOf(store, sandbox);
    if (snapshot.cluster.operation) return;
    const primary = nodeById(sandbox, snapshot.cluster.primary_node_id);
    for (const node of pgNodes(sandbox)) {
      if (node === primary) continue;
      const rows = await query<{ sender: string | null }>(socketTarget(node), "SELECT sender_host AS sender FROM pg_stat_wal_receiver WHERE status = 'streaming'").catch(() => []);
      const sender = rows[0]?.sender;
      if (!sender || sender === primary.address) continue;
      log(`pgvigil: ${node.node_name} streams from ${sender}, not from the primary ${primary.node_name}: node rejoin --force-rewind`);
      await rejoinNode(sandbox, node);
    }
  } finally {
    close();
  }
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
