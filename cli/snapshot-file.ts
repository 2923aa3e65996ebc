/**
 * Snapshot files for `pgvigil cluster explain --snapshot FILE` and the shipped examples
 * (docs/snapshot-format.md): a captured {@link ClusterSnapshot}, optionally wrapped with the
 * controller time to judge it at and the decision it is expected to produce.
 *
 * Parsing is separate from reading so tests can feed text; every problem is reported at once with
 * the file and the field path (`pgvigil.json: snapshot.nodes.1.priority: …`).
 */
import { z } from 'zod';
import { DECISION_CODES } from '../core/decision.js';
import { PgvigilError } from '../core/errors.js';
import { ClusterSnapshotSchema, validate, type ClusterSnapshot } from '../core/model.js';

/** The largest time a JavaScript Date can hold. */
const MAX_TIME = 8_640_000_000_000_000;

const isoOrEpoch = z.union([
  z.number().int().nonnegative().max(MAX_TIME, 'expected milliseconds since the epoch'),
  z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'expected an ISO-8601 time such as 2026-01-15T12:00:00Z'),
]);

export const SnapshotExpectationSchema = z.object({
  code: z.enum(DECISION_CODES),
  /** The failover candidate (in actions or suppressed actions); null or absent when none. */
  candidate: z.number().int().positive().nullable().optional(),
  /** A substring of one of the decision's reasons. */
  reason: z.string().optional(),
});
export type SnapshotExpectation = z.infer<typeof SnapshotExpectationSchema>;

const WrapperSchema = z.object({
  description: z.string().optional(),
  now: isoOrEpoch.optional(),
  expect: SnapshotExpectationSchema.optional(),
  snapshot: z.unknown(),
});

export interface SnapshotFile {
  snapshot: ClusterSnapshot;
  /** The controller time recorded in the file (epoch ms), or null when the file has none. */
  now: number | null;
  description: string | null;
  expect: SnapshotExpectation | null;
}

/** Parses a snapshot file's text; throws a `BAD_INPUT` PgvigilError naming every wrong field. */
export function parseSnapshotFile(text: string, file: string): SnapshotFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PgvigilError('BAD_INPUT', `${file}: not valid JSON: ${(error as Error).message}`);
  }
  const wrapped = typeof json === 'object' && json !== null && !Array.isArray(json) && 'snapshot' in json;
  const errors: string[] = [];
  let now: number | null = null;
  let description: string | null = null;
  let expectation: SnapshotExpectation | null = null;
  let body: unknown = json;
  if (wrapped) {
    const w = validate(WrapperSchema, json);
    if (!w.ok) errors.push(...w.errors);
    else {
      now = w.value.now === undefined ? null : typeof w.value.now === 'number' ? w.value.now : Date.parse(w.value.now);
      description = w.value.description ?? null;
      expectation = w.value.expect ?? null;
    }
    body = (json as { snapshot: unknown }).snapshot;
  }
  const s = validate(ClusterSnapshotSchema, body);
  if (!s.ok) errors.push(...s.errors.map((e) => (wrapped ? `snapshot.${e}` : e).replace(/^snapshot\.\(root\)/, 'snapshot')));
  if (errors.length > 0 || !s.ok) {
    throw new PgvigilError('BAD_INPUT', `${file}: not a valid cluster snapshot (${errors.length} ${errors.length === 1 ? 'problem' : 'problems'})`, {
      detail: errors.join('\n'),
      hint: 'see docs/snapshot-format.md; times inside the snapshot are milliseconds since the epoch',
    });
  }
  return { snapshot: s.value, now, description, expect: expectation };
}

/** Parses `--now`: an ISO-8601 time (or epoch milliseconds). */
export function parseNow(text: string): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms) || ms > MAX_TIME) {
    throw new PgvigilError('BAD_ARGUMENT', `option --now expects an ISO-8601 time such as 2026-01-15T12:00:00Z, got "${text}"`);
  }
  return ms;
}
