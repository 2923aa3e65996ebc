/**
 * The figures of `bench:peers`: each run's record, p50 / max per system and fault, pgvigil's ratio
 * to each peer, the rotating order of a round, and the printed table. Pure (no I/O).
 */

export const SYSTEMS = ['pgvigil', 'repmgr', 'patroni', 'pg_auto_failover'] as const;
export type SystemName = (typeof SYSTEMS)[number];
export const FAULTS = ['crash-primary', 'kill-primary-host', 'switchover'] as const;
export type FaultName = (typeof FAULTS)[number];

/** One system × fault run. Times are from the fault, in ms; null when it did not happen. */
export interface RunRecord {
  round: number;
  system: SystemName;
  fault: FaultName;
  /** The write loop saw a new primary and no acknowledged write was lost. */
  ok: boolean;
  problems: string[];
  /** Fault → the first acknowledged write on the new primary (headline figure). */
  to_new_primary_ms: number | null;
  /** The longest gap without an acknowledged write after the fault (sandbox/writers.ts). */
  write_outage_ms: number | null;
  acked_writes: number;
  /** null when it could not be checked (then `ok` is false). */
  acked_writes_lost: number | null;
  old_primary: string;
  new_primary: string | null;
  /** The old primary's server was restarted in place and took the writes again (no failover). */
  in_place: boolean;
  notes: string[];
}

/** The q-quantile of ascending `sorted` (nearest rank); NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export interface Cell {
  system: SystemName;
  fault: FaultName;
  runs: number;
  ok: number;
  /** p50 / max of to_new_primary_ms over the runs that reached a new primary. */
  p50: number | null;
  max: number | null;
  outageP50: number | null;
  outageMax: number | null;
  /** Acknowledged writes lost over all runs; null when a run could not be checked. */
  lost: number | null;
  inPlace: number;
}

function p50max(values: (number | null)[]): { p50: number | null; max: number | null } {
  const v = values.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  return v.length === 0 ? { p50: null, max: null } : { p50: quantile(v, 0.5), max: v[v.length - 1] as number };
}

/** One cell per system × fault that has runs, in SYSTEMS × FAULTS order. */
export function summarize(records: readonly RunRecord[]): Cell[] {
  const cells: Cell[] = [];
  for (const system of SYSTEMS) {
    for (const fault of FAULTS) {
      const runs = records.filter((r) => r.system === system && r.fault === fault);
      if (runs.length === 0) continue;
      const head = p50max(runs.map((r) => r.to_new_primary_ms));
      const outage = p50max(runs.map((r) => r.write_outage_ms));
      cells.push({
        system,
        fault,
        runs: runs.length,
        ok: runs.filter((r) => r.ok).length,
        p50: head.p50,
        max: head.max,
        outageP50: outage.p50,
        outageMax: outage.max,
        lost: runs.some((r) => r.acked_writes_lost === null) ? null : runs.reduce((n, r) => n + (r.acked_writes_lost ?? 0), 0),
        inPlace: runs.filter((r) => r.in_place).length,
      });
    }
  }
  return cells;
}

/**
 * pgvigil's p50 divided by each peer's, per fault (below 1: pgvigil is faster); null where either
 * has no figure.
 */
export function ratios(cells: readonly Cell[]): { fault: FaultName; peer: SystemName; ratio: number | null }[] {
  const out: { fault: FaultName; peer: SystemName; ratio: number | null }[] = [];
  for (const fault of FAULTS) {
    const ours = cells.find((c) => c.system === 'pgvigil' && c.fault === fault);
    if (!ours) continue;
    for (const peer of cells.filter((c) => c.fault === fault && c.system !== 'pgvigil')) {
      out.push({ fault, peer: peer.system, ratio: ours.p50 !== null && peer.p50 !== null && peer.p50 > 0 ? ours.p50 / peer.p50 : null });
    }
  }
  return out;
}

/** `items` rotated left by `round` (round 0 keeps the order), so each position is taken in turn. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = ((round % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** The runs of one round: every system × fault once, systems and faults in rotating order. */
export function roundPlan(systems: readonly SystemName[], faults: readonly FaultName[], round: number): { system: SystemName; fault: FaultName }[] {
  const plan: { system: SystemName; fault: FaultName }[] = [];
  const fs = rotate(faults, round);
  for (let i = 0; i < fs.length; i++) {
    for (const system of rotate(systems, round + i)) plan.push({ system, fault: fs[i] as FaultName });
  }
  return plan;
}

/**
 * When the second of the other nodes (two standbys and the witness, the voters) noticed the old
 * primary unreachable, from the fault: the quorum a failover of a crashed primary waits for. Read
 * from their `repmgrd_upstream_disconnect` events, stamped when the agent's check failed (its
 * heartbeat saying so is written at once); null with fewer than two.
 */
export function observersMs(events: readonly { at_ms: number; node_id: number; event: string }[], oldPrimaryId: number): number | null {
  const first = new Map<number, number>();
  for (const e of events) {
    if (e.event !== 'repmgrd_upstream_disconnect' || e.node_id === oldPrimaryId) continue;
    first.set(e.node_id, Math.min(first.get(e.node_id) ?? Infinity, e.at_ms));
  }
  const sorted = [...first.values()].sort((a, b) => a - b);
  return sorted[1] ?? null;
}

/** The drill's steps, from the fault, as one line (where the time went). */
export function stepsLine(timings: Record<string, number | null | undefined>): string {
  const steps = ['detected', 'observers', 'saga_claimed', 'fenced', 'promoted', 'vip_moved', 'first_write_via_vip'];
  return steps.map((s) => `${s} ${typeof timings[s] === 'number' ? `${timings[s]} ms` : '—'}`).join(', ');
}

const secs = (ms: number | null): string => (ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`);

/** The markdown table docs/drills.md keeps: p50 (max) per system and fault, and the ratios. */
export function renderTable(cells: readonly Cell[]): string {
  const faults = FAULTS.filter((f) => cells.some((c) => c.fault === f));
  const systems = SYSTEMS.filter((s) => cells.some((c) => c.system === s));
  const lines = [
    `| system | ${faults.map((f) => `${f}: to new primary p50 (max) · outage p50 · ok · lost`).join(' | ')} |`,
    `|---|${faults.map(() => '---').join('|')}|`,
  ];
  for (const system of systems) {
    const row = faults.map((fault) => {
      const c = cells.find((x) => x.system === system && x.fault === fault);
      if (!c) return '';
      const inPlace = c.inPlace > 0 ? ` (${c.inPlace} restarted in place)` : '';
      return `**${secs(c.p50)}** (${secs(c.max)}) · ${secs(c.outageP50)} · ${c.ok}/${c.runs} · ${c.lost ?? '?'}${inPlace}`;
    });
    lines.push(`| ${system} | ${row.join(' | ')} |`);
  }
  const r = ratios(cells);
  if (r.length > 0) {
    const peers = SYSTEMS.filter((s) => s !== 'pgvigil' && r.some((x) => x.peer === s));
    lines.push('', `| pgvigil ÷ peer (p50) | ${peers.join(' | ')} |`, `|---|${peers.map(() => '---').join('|')}|`);
    for (const fault of faults) {
      const row = peers.map((p) => {
        const x = r.find((y) => y.fault === fault && y.peer === p);
        return x?.ratio == null ? '—' : `${x.ratio.toFixed(2)}×`;
      });
      lines.push(`| ${fault} | ${row.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}
