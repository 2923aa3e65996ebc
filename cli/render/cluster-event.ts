/** `cluster event` rendering (pure): repmgr's `Node ID | Name | Event | OK | Timestamp | Details`. */
import type { EventRecord } from '../../core/model.js';
import { csvLine, renderTable } from './table.js';

export interface EventRow {
  node_id: number;
  node_name: string;
  event: string;
  successful: boolean;
  timestamp: number;
  details: string;
  term: number;
  /** The event's structured fields (e.g. a failover's data-loss record), shown by --json only. */
  info?: Record<string, unknown>;
}

/** repmgr's `TO_CHAR(event_timestamp, 'YYYY-MM-DD HH24:MI:SS')`, in UTC. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function eventRows(events: readonly EventRecord[], names: ReadonlyMap<number, string>): EventRow[] {
  return events.map((e) => ({
    node_id: e.node_id,
    node_name: names.get(e.node_id) ?? '',
    event: e.event,
    successful: e.successful,
    timestamp: e.timestamp,
    details: e.details,
    term: e.term,
    ...(e.info ? { info: e.info } : {}),
  }));
}

/** One line per event: details can hold newlines, which would break the table. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

export function renderEventTable(rows: readonly EventRow[], options: { compact?: boolean } = {}): string[] {
  return renderTable(
    [{ title: 'Node ID' }, { title: 'Name' }, { title: 'Event' }, { title: 'OK' }, { title: 'Timestamp' }, { title: 'Details', hidden: options.compact === true }],
    rows.map((r) => [String(r.node_id), r.node_name, r.event, r.successful ? 't' : 'f', formatTimestamp(r.timestamp), oneLine(r.details)]),
  );
}

/** repmgr's `--csv`: `node_id,node_name,event,successful,timestamp` (repmgr leaves Details out; see --json). */
export function renderEventCsv(rows: readonly EventRow[]): string[] {
  return rows.map((r) => csvLine([r.node_id, r.node_name, r.event, r.successful ? 't' : 'f', formatTimestamp(r.timestamp)]));
}

export function renderEventJson(clusterId: string, rows: readonly EventRow[]): string {
  return JSON.stringify(
    { cluster_id: clusterId, events: rows.map((r) => ({ ...r, timestamp_iso: new Date(r.timestamp).toISOString() })) },
    null,
    2,
  );
}
