/**
 * `cluster show` rendering (pure): repmgr's table, `--compact`, `--csv` and `--json` from a
 * {@link ClusterShowModel}.
 */
import { formatAge, prettyBytes, type ClusterShowModel, type ClusterShowRow } from '../../core/node-status.js';
import { renderTable, type Column } from './table.js';

export interface ClusterShowOptions {
  compact?: boolean;
}

/** "3 s ago", "in 2 s (clock ahead)", "never". */
export function heartbeatAgeText(ageMs: number | null): string {
  if (ageMs === null) return 'never';
  if (ageMs < 0) return `${formatAge(-ageMs)} ahead`;
  return `${formatAge(ageMs)} ago`;
}

export function lagText(row: ClusterShowRow): string {
  return row.lag_bytes === null ? '' : prettyBytes(row.lag_bytes);
}

/** The table on stdout, exactly as repmgr lays it out, plus pgvigil's Lag and Heartbeat columns. */
export function renderClusterShowTable(model: ClusterShowModel, options: ClusterShowOptions = {}): string[] {
  const compact = options.compact === true;
  const columns: Column[] = [
    { title: 'ID' },
    { title: 'Name' },
    { title: 'Role' },
    { title: 'Status' },
    { title: 'Upstream' },
    { title: 'Location' },
    { title: compact ? 'Prio.' : 'Priority' },
    { title: compact ? 'TLI' : 'Timeline' },
    { title: 'Lag' },
    { title: 'Heartbeat' },
    { title: 'Connection string', hidden: compact },
  ];
  const rows = model.rows.map((r) => [
    String(r.node_id),
    r.node_name,
    r.role,
    r.status,
    r.upstream,
    r.location,
    String(r.priority),
    // repmgr: "the witness node's timeline ID is irrelevant".
    r.role === 'witness' ? 'n/a' : r.timeline === null ? '' : String(r.timeline),
    lagText(r),
    heartbeatAgeText(r.heartbeat_age_ms),
    r.conninfo,
  ]);
  return renderTable(columns, rows);
}

/**
 * repmgr's `cluster show --csv`: `node_id,connection_status,recovery_type` per node, where
 * connection_status is 0 (up) or -1 (not), and recovery_type is 0 (primary), 1 (standby) or -1 (unknown).
 */
export function renderClusterShowCsv(model: ClusterShowModel): string[] {
  const recovery = { primary: 0, standby: 1, unknown: -1 } as const;
  return model.rows.map((r) => `${r.node_id},${r.connection_status},${recovery[r.recovery_type]}`);
}

export function renderClusterShowJson(model: ClusterShowModel): string {
  return JSON.stringify(model, null, 2);
}
