/**
 * One fault on one peer cluster, measured with the drills' write loop (sandbox/writers.ts) over a
 * libpq-style multi-host connection (multihost.ts): from the fault to the first acknowledged write
 * on a new primary — another node, or the old node's server restarted in place (its postmaster
 * start time differs) — and the longest gap without an acknowledged write. Afterwards every write
 * the loop saw acknowledged must be on the final primary.
 */
import { DrillWriter, ackedWritesLost, ensureDrillTable, writeOutageMs, type WriteAttempt } from '../../sandbox/writers.js';
import { sleep, type PeerCluster } from './cluster.js';
import { connectReadWrite, serverTarget } from './multihost.js';
import type { FaultName, RunRecord } from './stats.js';

/** The first acknowledged write sent at or after `from` on a server other than `old`. */
export function firstOnNewServer(attempts: readonly WriteAttempt[], from: number, old: string | undefined): WriteAttempt | undefined {
  let first: WriteAttempt | undefined;
  for (const a of attempts) {
    if (a.ackedAt === null || a.sentAt < from || a.server === undefined || a.server === old) continue;
    if (!first || a.ackedAt < (first.ackedAt as number)) first = a;
  }
  return first;
}

export interface MeasureOptions {
  round: number;
  /** Give up waiting for a new primary after this long. @default 120000 */
  timeoutMs?: number;
  log: (line: string) => void;
}

export async function measurePeer(cluster: PeerCluster, fault: FaultName, options: MeasureOptions): Promise<RunRecord> {
  const { log } = options;
  const primary = await cluster.reset(log);
  const hosts = cluster.hosts(primary);
  await ensureDrillTable(hosts[0] as (typeof hosts)[number]);
  const name = `${cluster.system}-${fault}-${Date.now().toString(36)}`;
  const writer = new DrillWriter({ name, target: hosts[0] as (typeof hosts)[number], connect: (ms) => connectReadWrite(hosts, ms) });
  const notes: string[] = [];
  const problems: string[] = [];
  writer.start();
  try {
    const warmup = Date.now() + 10_000;
    while (writer.acked().length < 10 && Date.now() < warmup) await sleep(50);
    const lastBefore = [...writer.attempts].reverse().find((a) => a.ackedAt !== null);
    if (!lastBefore) throw new Error(`${cluster.system}: no write acknowledged before the fault`);
    const old = lastBefore.server;
    const fault0 = Date.now();
    log(`${cluster.system} ${fault}: fault on ${primary}`);
    notes.push(await cluster.inject(fault, primary, log));
    const deadline = fault0 + (options.timeoutMs ?? 120_000);
    while (!firstOnNewServer(writer.attempts, fault0, old) && Date.now() < deadline) await sleep(50);
    await sleep(1000);
    await writer.stop();
    const end = Date.now();
    const first = firstOnNewServer(writer.attempts, fault0, old);
    if (!first) problems.push(`no write acknowledged on a new primary within ${(options.timeoutMs ?? 120_000) / 1000} s`);
    const newServer = first?.server;
    const newNode = newServer ? cluster.nodeAt(serverTarget(newServer).host) ?? newServer : null;
    let lost: number | null = null;
    try {
      // The final primary, as a client would find it now.
      const { client, server } = await connectReadWrite(hosts, 5000);
      await client.end().catch(() => undefined);
      lost = (await ackedWritesLost(serverTarget(server), name, writer.acked())).length;
      if (lost > 0) problems.push(`${lost} acknowledged writes lost`);
    } catch (error) {
      problems.push(`the acknowledged writes could not be checked: ${(error as Error).message}`);
    }
    return {
      round: options.round,
      system: cluster.system,
      fault,
      ok: problems.length === 0,
      problems,
      to_new_primary_ms: first?.ackedAt != null ? first.ackedAt - fault0 : null,
      write_outage_ms: writeOutageMs(writer.attempts, fault0, end),
      acked_writes: writer.acked().length,
      acked_writes_lost: lost,
      old_primary: primary,
      new_primary: newNode,
      in_place: newNode === primary,
      notes,
    };
  } finally {
    await writer.stop();
  }
}
