/**
 * Snapshot files for `pgvigil cluster explain --snapshot FILE` and the shipped examples
 * (docs/snapshot-format.md): a captured {@link ClusterSnapshot}, optionally wrapped with the
 * controller time to judge it at and the decision it is expected to produce.
 *
 * A snapshot file is input like any other, so it is validated strictly, with the schemas the
 * controller uses (core/model.ts): an unknown key is an error naming it — a misspelt setting would
 * otherwise fall back to its default and change the decision — and a file larger than
 * {@link MAX_SNAPSHOT_FILE_BYTES} is refused before it is parsed. Every problem is reported at once
 * with the file and the field path (`pgvigil.json: snapshot.nodes.1.priority: …`). Parsing is
 * separate from reading so tests can feed text.
 */
import { readFile, stat } from 'node:fs/promises';
import { DECISION_CODES } from '../core/decision.js';
import { PgvigilError } from '../core/errors.js';
import { ClusterSnapshotSchema, nodeId, type ClusterSnapshot } from '../core/model.js';
import { custom, nullable, object, oneOf, optional, string, type Infer } from '../core/schema.js';

/** Far more than the largest cluster's state (a few kB per node); a bigger file is not a snapshot. */
export const MAX_SNAPSHOT_FILE_BYTES = 4 * 1024 * 1024;

/** The largest time a JavaScript Date can hold. */
const MAX_TIME = 8_640_000_000_000_000;

/** `now`: milliseconds since the epoch, or ISO-8601 text; the value is epoch milliseconds. */
const isoOrEpoch = custom<number>((input) => {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 && input <= MAX_TIME ? { value: input } : { problem: `expected milliseconds since the epoch, got ${input}` };
  }
  const ms = typeof input === 'string' && input.length <= 64 && /^\d{4}-\d{2}-\d{2}T/.test(input) ? Date.parse(input) : Number.NaN;
  return Number.isNaN(ms) ? { problem: 'expected an ISO-8601 time such as 2026-01-15T12:00:00Z, or milliseconds since the epoch' } : { value: ms };
});

export const SnapshotExpectationSchema = object('expectation', {
  code: oneOf(DECISION_CODES),
  /** The failover candidate (in actions or suppressed actions); null or absent when none. */
  candidate: optional(nullable(nodeId)),
  /** A substring of one of the decision's reasons. */
  reason: optional(string({ max: 1000 })),
});
export type SnapshotExpectation = Infer<typeof SnapshotExpectationSchema>;

const SnapshotFileSchema = object('snapshot file', {
  description: optional(string({ max: 1000 })),
  now: optional(isoOrEpoch),
  expect: optional(SnapshotExpectationSchema),
  snapshot: ClusterSnapshotSchema,
});

export interface SnapshotFile {
  snapshot: ClusterSnapshot;
  /** The controller time recorded in the file (epoch ms), or null when the file has none. */
  now: number | null;
  description: string | null;
  expect: SnapshotExpectation | null;
}

function refuseLarge(file: string, bytes: number): void {
  if (bytes <= MAX_SNAPSHOT_FILE_BYTES) return;
  const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
  throw new PgvigilError('BAD_INPUT', `${file}: ${mb(bytes)} is larger than a snapshot file may be (${mb(MAX_SNAPSHOT_FILE_BYTES)})`, {
    hint: 'a cluster snapshot holds a few kB per node; see docs/snapshot-format.md',
  });
}

/** Reads and parses a snapshot file; a file that is too large is refused before it is read. */
export async function readSnapshotFile(file: string): Promise<SnapshotFile> {
  let text: string;
  try {
    refuseLarge(file, (await stat(file)).size);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof PgvigilError) throw error;
    throw new PgvigilError('BAD_INPUT', `could not read snapshot file "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseSnapshotFile(text, file);
}

/** Parses a snapshot file's text; throws a `BAD_INPUT` PgvigilError naming every wrong field. */
export function parseSnapshotFile(text: string, file: string): SnapshotFile {
  refuseLarge(file, Buffer.byteLength(text, 'utf8'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PgvigilError('BAD_INPUT', `${file}: not valid JSON: ${(error as Error).message}`);
  }
  // A top level with a "snapshot" member is the wrapped form; anything else is read as a bare snapshot.
  const wrapped = typeof json === 'object' && json !== null && !Array.isArray(json) && 'snapshot' in json;
  const result = wrapped ? SnapshotFileSchema.check(json) : ClusterSnapshotSchema.check(json);
  if (!result.ok) {
    const n = result.errors.length;
    throw new PgvigilError('BAD_INPUT', `${file}: not a valid cluster snapshot (${n} ${n === 1 ? 'problem' : 'problems'})`, {
      detail: result.errors.join('\n'),
      hint: 'see docs/snapshot-format.md; times inside the snapshot are milliseconds since the epoch',
    });
  }
  if (!('snapshot' in result.value)) return { snapshot: result.value, now: null, description: null, expect: null };
  const { snapshot, now, description, expect } = result.value;
  return { snapshot, now: now ?? null, description: description ?? null, expect: expect ?? null };
}

/** Parses `--now` (or another time option): an ISO-8601 time (or epoch milliseconds). */
export function parseNow(text: string, option = '--now'): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms) || ms > MAX_TIME) {
    throw new PgvigilError('BAD_ARGUMENT', `option ${option} expects an ISO-8601 time such as 2026-01-15T12:00:00Z, got "${text}"`);
  }
  return ms;
}
