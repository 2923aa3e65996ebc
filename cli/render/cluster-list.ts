/**
 * `cluster list` rendering (pure): one row per cluster in the state table, its health judged by
 * the same {@link ClusterShowModel} `cluster show` prints (a cluster is "ok" when `cluster show`
 * would find no issue, i.e. exit 0).
 */
import type { ClusterShowModel } from '../../core/node-status.js';
import { csvLine, renderTable } from './table.js';

export interface ClusterListRow {
  cluster_id: string;
  /** The cluster the other commands address (--cluster, PGVIGIL_CLUSTER_ID, cluster_id of -f, "default"). */
  selected: boolean;
  /** null when the cluster record could not be read (see `issues`). */
  term: number | null;
  primary_node_id: number | null;
  primary_node_name: string | null;
  /** "ok", "N issue(s)", or "unreadable". */
  health: string;
  /** `cluster show`'s issues, or why the cluster could not be read. */
  issues: string[];
  /** `cluster show`'s warnings (risks of the topology: they do not make a cluster unhealthy). */
  warnings: string[];
  paused: boolean | null;
  operation: ClusterShowModel['operation'];
}

function healthText(issues: number): string {
  return issues === 0 ? 'ok' : `${issues} ${issues === 1 ? 'issue' : 'issues'}`;
}

/** A readable cluster's row, from what `cluster show` computed for it. */
export function clusterListRow(model: ClusterShowModel, selected: boolean): ClusterListRow {
  const primary = model.primary_node_id === null ? undefined : model.rows.find((r) => r.node_id === model.primary_node_id);
  return {
    cluster_id: model.cluster_id,
    selected,
    term: model.term,
    primary_node_id: model.primary_node_id,
    primary_node_name: primary?.node_name ?? null,
    health: healthText(model.issues.length),
    issues: model.issues,
    warnings: model.warnings,
    paused: model.paused,
    operation: model.operation,
  };
}

/** The row of a cluster whose stored records failed validation: listed, not hidden, with the reason. */
export function unreadableClusterRow(clusterId: string, reason: string, selected: boolean): ClusterListRow {
  return {
    cluster_id: clusterId,
    selected,
    term: null,
    primary_node_id: null,
    primary_node_name: null,
    health: 'unreadable',
    issues: [reason],
    warnings: [],
    paused: null,
    operation: null,
  };
}

/** True when the row counts against the exit code (as an issue does for `cluster show`). */
export function clusterListRowUnhealthy(row: ClusterListRow): boolean {
  return row.issues.length > 0;
}

function primaryText(row: ClusterListRow): string {
  if (row.primary_node_id === null) return row.term === null ? '' : '-';
  return row.primary_node_name === null ? `ID ${row.primary_node_id} (not registered)` : `${row.primary_node_name} (ID: ${row.primary_node_id})`;
}

function operationText(op: ClusterShowModel['operation']): string {
  if (!op) return '';
  return `${op.kind} (${op.step}${op.candidate_node_id === null ? '' : `, candidate ID ${op.candidate_node_id}`})`;
}

/** The table: the selected cluster is marked with "*", as `cluster show` marks the primary. */
export function renderClusterListTable(rows: readonly ClusterListRow[]): string[] {
  return renderTable(
    [{ title: 'Cluster' }, { title: 'Term' }, { title: 'Primary' }, { title: 'Health' }, { title: 'Paused?' }, { title: 'Operation' }],
    rows.map((r) => [
      `${r.selected ? '*' : ' '} ${r.cluster_id}`,
      r.term === null ? '' : String(r.term),
      primaryText(r),
      r.health,
      r.paused === null ? '' : r.paused ? 'yes' : 'no',
      operationText(r.operation),
    ]),
  );
}

/** `cluster_id,term,primary_node_id,primary_node_name,issues,paused(1|0),operation` (empty: unknown or none). */
export function renderClusterListCsv(rows: readonly ClusterListRow[]): string[] {
  return rows.map((r) =>
    csvLine([r.cluster_id, r.term, r.primary_node_id, r.primary_node_name, r.health === 'unreadable' ? -1 : r.issues.length, r.paused === null ? null : r.paused ? 1 : 0, r.operation?.kind ?? null]),
  );
}

export function renderClusterListJson(tableName: string, rows: readonly ClusterListRow[]): string {
  return JSON.stringify({ table: tableName, clusters: rows }, null, 2);
}
