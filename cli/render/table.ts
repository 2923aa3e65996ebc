/**
 * repmgr's table layout (repmgr-action-cluster.c `print_status_header`): a header row, a dashed
 * rule with `-+-` joints, left-aligned cells separated by ` | `. Trailing blanks are trimmed, which
 * repmgr does not do, so copied output and golden files carry no invisible padding.
 */
export interface Column {
  title: string;
  /** Hidden columns (e.g. the connection string under --compact) are skipped entirely. */
  hidden?: boolean;
}

export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const shown = columns.map((c, i) => ({ ...c, index: i })).filter((c) => !c.hidden);
  const widths = shown.map((c) => Math.max(c.title.length, ...rows.map((r) => (r[c.index] ?? '').length)));
  const line = (cells: string[]): string => ` ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')}`.trimEnd();
  const out = [line(shown.map((c) => c.title))];
  out.push(`-${widths.map((w) => '-'.repeat(w)).join('-+-')}-`);
  for (const row of rows) out.push(line(shown.map((c) => row[c.index] ?? '')));
  return out;
}

/** One CSV field, quoted when it needs to be (RFC 4180). */
export function csvField(value: string | number | boolean | null): string {
  const text = value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: readonly (string | number | boolean | null)[]): string {
  return values.map(csvField).join(',');
}
