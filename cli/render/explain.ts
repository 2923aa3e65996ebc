/**
 * The text of `pgvigil cluster explain`: what the engine decided and why, for a snapshot file or
 * (later) for the live cluster. Pure: lines in, lines out.
 */
import type { Action, Decision } from '../../core/decision.js';
import type { ClusterSnapshot } from '../../core/model.js';

export interface ExplainOptions {
  /** The controller time the decision was made at, shown in the header. */
  now?: number;
}

export function renderExplanation(decision: Decision, snapshot: ClusterSnapshot, options: ExplainOptions = {}): string[] {
  const names = new Map(snapshot.nodes.map((n) => [n.node_id, n.node_name]));
  const node = (id: number): string => (names.has(id) ? `node ${id} (${names.get(id)})` : `node ${id}`);
  const c = snapshot.cluster;
  const lines: string[] = [];
  const at = options.now === undefined ? '' : ` at ${isoOrRaw(options.now)}`;
  lines.push(`Cluster "${c.cluster_id}"${at}: term ${c.term}, primary ${c.primary_node_id === null ? 'none' : node(c.primary_node_id)}${c.paused ? ', paused' : ''}`);
  lines.push(`Decision: ${decision.code}`);
  lines.push(`  ${decision.reasons[0] ?? ''}`);

  if (decision.reasons.length > 1) {
    lines.push('', 'Reasons:');
    decision.reasons.slice(1).forEach((r, i) => lines.push(`  ${i + 1}. ${r}`));
  }
  const op = decision.operation;
  if (op) {
    lines.push('', `Operation in flight: ${op.kind} ${op.id} (term ${op.term}) at step "${op.step}", ${op.phase.replace(/_/g, ' ')}`);
    lines.push(`  verdict: ${op.verdict === 'end' ? `end it (${(op.ending ?? '').replace('_', ' ')})` : 'let it go on'}`);
    for (const r of op.reasons) lines.push(`  - ${r}`);
    if (op.without_operation) lines.push(`  without it the engine would decide: ${op.without_operation.code} — ${op.without_operation.headline}`);
  }
  if (decision.actions.length > 0) {
    lines.push('', 'Actions:');
    for (const a of decision.actions) lines.push(`  - ${describeAction(a, node)}`);
  }
  if (decision.suppressed_actions.length > 0) {
    lines.push('', 'Suppressed actions (reported only, not carried out):');
    for (const a of decision.suppressed_actions) lines.push(`  - ${describeAction(a, node)}`);
  }
  if (decision.candidates.length > 0) {
    lines.push('', 'Candidates:');
    const rows = decision.candidates.map((a) => [
      String(a.node_id),
      names.get(a.node_id) ?? '',
      a.eligible ? 'yes' : 'no',
      a.receive_lsn ?? '-',
      String(a.priority),
      a.reasons.join('; '),
    ]);
    lines.push(...table(['Node', 'Name', 'Eligible', 'Receive LSN', 'Priority', 'Why'], rows).map((l) => `  ${l}`));
  }
  if (decision.alarms.length > 0) {
    lines.push('', 'Alarms:');
    for (const a of decision.alarms) lines.push(`  - [${a.kind}] ${a.message}`);
  }
  if (decision.events.length > 0) {
    lines.push('', 'Events to record:');
    for (const e of decision.events) lines.push(`  - ${e.event} (${node(e.node_id)}, ${e.successful ? 'successful' : 'unsuccessful'}): ${e.details}`);
  }
  if (decision.lease_observation) {
    lines.push('', `Lease observation to record: RVN ${decision.lease_observation.rvn} first seen at ${isoOrRaw(decision.lease_observation.first_seen_at)}`);
  }
  return lines;
}

export function describeAction(a: Action, node: (id: number) => string): string {
  switch (a.kind) {
    case 'failover': {
      const then = a.follower_node_ids.length === 0 ? '' : `; then ${a.follower_node_ids.map(node).join(', ')} follow${a.follower_node_ids.length === 1 ? 's' : ''} it`;
      return `failover: fence ${node(a.old_primary_node_id)}, promote ${node(a.candidate_node_id)} and move the virtual IP to it${then}`;
    }
    case 'fence':
      return `fence ${node(a.node_id)} (${a.reason === 'split_brain' ? 'split brain' : 'superseded primary'})`;
    case 'follow':
      return `make ${node(a.node_id)} follow ${node(a.upstream_node_id)}`;
    case 'rejoin':
      return `rejoin ${node(a.node_id)} as a standby of ${node(a.upstream_node_id)}${a.force_rewind ? ' (pg_rewind if needed)' : ' (no rewind)'}`;
    case 'end_operation':
      return `end operation ${a.operation_id} (${a.ending.replace('_', ' ')}): ${a.reason}`;
    case 'restart_primary':
      return `restart ${node(a.node_id)} in place as the primary of a new term`;
    case 'unpause':
      return `lift the pause left by operation ${a.operation_id}`;
  }
}

/** repmgr's table style: ` a | b ` with a `---+---` rule under the header. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const last = header.length - 1;
  const fmt = (cells: string[]): string =>
    cells.map((cell, i) => (i === last ? ` ${cell}` : ` ${cell.padEnd(widths[i] ?? 0)} `)).join('|').trimEnd();
  const rule = widths.map((w, i) => '-'.repeat(i === last ? w + 1 : w + 2)).join('+');
  return [fmt(header), rule, ...rows.map(fmt)];
}

function isoOrRaw(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`;
}
