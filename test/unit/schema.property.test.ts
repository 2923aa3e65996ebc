import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentStateSchema } from '../../agent/state-file.js';
import { SnapshotExpectationSchema } from '../../cli/snapshot-file.js';
import {
  ClusterRecordSchema,
  ClusterSettingsSchema,
  ClusterSnapshotSchema,
  EventRecordSchema,
  HeartbeatSchema,
  LeaseObservationSchema,
  LeaseSchema,
  MonitoringSampleSchema,
  NodeRecordSchema,
  OperationSchema,
} from '../../core/model.js';
import type { Schema, Spec } from '../../core/schema.js';
import { SwitchoverRequestSchema } from '../../functions/switchover.js';

/**
 * Every record schema, walked as data: a generator built from each schema's own definition makes
 * records it must accept, and each single mutation of such a record (wrong type, out of range,
 * missing, unknown key, oversize) must be refused with exactly one error, naming the mutated field.
 */
const RECORDS: Record<string, Schema<unknown>> = {
  NodeRecordSchema,
  HeartbeatSchema,
  LeaseSchema,
  LeaseObservationSchema,
  OperationSchema,
  ClusterSettingsSchema,
  ClusterRecordSchema,
  EventRecordSchema,
  MonitoringSampleSchema,
  ClusterSnapshotSchema,
  SwitchoverRequestSchema,
  AgentStateSchema,
  SnapshotExpectationSchema,
};

/** Strings whose only rule is a check function: valid examples the generator cannot guess. */
const VALID_SAMPLES: Record<string, string[]> = { vip_allocation_id: ['eipalloc-0123456789abcdef0', 'eipalloc-1a2b3c4d'] };

/** Fails every pattern and check of the model (control characters, a password). */
const NOT_MATCHING = 'password=\u0001';

function numberArbitrary(spec: Extract<Spec, { type: 'number' }>): fc.Arbitrary<number> {
  if (spec.int) {
    const lo = BigInt(spec.gt !== undefined ? spec.gt + 1 : (spec.min ?? Number.MIN_SAFE_INTEGER));
    const hi = BigInt(spec.max ?? Number.MAX_SAFE_INTEGER);
    return fc.oneof(fc.constantFrom(Number(lo), Number(hi)), fc.bigInt({ min: lo, max: hi }).map(Number));
  }
  const min = spec.gt ?? spec.min ?? -1e12;
  const max = spec.max ?? 1e12;
  const bounds = [...(spec.gt === undefined ? [min] : []), max];
  return fc.oneof(fc.constantFrom(...bounds), fc.double({ min, max, minExcluded: spec.gt !== undefined, noNaN: true, noDefaultInfinity: true }));
}

function stringArbitrary(spec: Extract<Spec, { type: 'string' }>, key: string): fc.Arbitrary<string> {
  const samples = VALID_SAMPLES[key];
  if (samples) return fc.constantFrom(...samples);
  const fits = (s: string): boolean => s.length >= spec.min && s.length <= spec.max && (!spec.pattern || spec.pattern.test(s)) && spec.refine?.(s) === undefined;
  const base = spec.pattern ? fc.stringMatching(spec.pattern) : fc.string({ minLength: spec.min, maxLength: Math.min(spec.max, 24) });
  const longest = 'x'.repeat(spec.max);
  return fits(longest) ? fc.oneof(base.filter(fits), fc.constant(longest)) : base.filter(fits);
}

/** Values the spec must accept. Arrays are kept short; their bound is tested by the mutations. */
function arbitraryOf(spec: Spec, key = ''): fc.Arbitrary<unknown> {
  switch (spec.type) {
    case 'boolean':
      return fc.boolean();
    case 'number':
      return numberArbitrary(spec);
    case 'string':
      return stringArbitrary(spec, key);
    case 'enum':
      return fc.constantFrom(...spec.values);
    case 'nullable':
      return fc.option(arbitraryOf(spec.inner, key), { nil: null });
    case 'optional':
    case 'default':
      return fc.option(arbitraryOf(spec.inner, key), { nil: undefined });
    case 'array':
      return fc.array(arbitraryOf(spec.item, key), { maxLength: Math.min(spec.max, 3) });
    case 'object':
      return fc
        .record(Object.fromEntries(Object.entries(spec.fields).map(([k, f]) => [k, arbitraryOf(f, k)])))
        .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
    case 'json':
      return fc
        .dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), fc.jsonValue({ maxDepth: 2 }))
        .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>)
        .filter((o) => JSON.stringify(o).length <= spec.max);
    case 'custom':
      throw new Error('no generator for a custom schema');
  }
}

type Path = Array<string | number>;
const REMOVE = Symbol('remove');
interface Mutation {
  kind: string;
  path: Path;
  value: unknown;
  /** What the one error must say after its path. */
  says: RegExp;
}

/** A value of another JSON type than the spec's. */
function wrongType(spec: Spec): unknown {
  switch (spec.type) {
    case 'boolean':
      return 'true';
    case 'number':
      return '7';
    case 'object':
    case 'json':
      return [];
    case 'array':
      return {};
    default:
      return 7;
  }
}

/** What a nullable, optional or defaulted field holds when it holds something. */
function unwrapped(spec: Spec): Spec {
  return spec.type === 'nullable' || spec.type === 'optional' || spec.type === 'default' ? unwrapped(spec.inner) : spec;
}

const WRONG_TYPE = /^expected (a|an|one of) /;
const OUT_OF_SAFE_RANGE = /^-?\d+ is outside the safe integer range$/;

/** The single mutations of `value` (valid for `spec`) at `path` and below. */
function mutations(spec: Spec, value: unknown, path: Path): Mutation[] {
  const out: Mutation[] = [];
  const s = unwrapped(spec);
  if (path.length > 0) out.push({ kind: 'wrong type', path, value: wrongType(s), says: WRONG_TYPE });
  switch (s.type) {
    case 'number': {
      const within = (n: number): boolean => (s.gt === undefined || n > s.gt) && (s.min === undefined || n >= s.min) && (s.max === undefined || n <= s.max);
      if (s.int && within(1.5)) out.push({ kind: 'not an integer', path, value: 1.5, says: /^expected an integer, got 1.5$/ });
      if (s.gt !== undefined) out.push({ kind: 'at the exclusive bound', path, value: s.gt, says: /^expected a number > / });
      if (s.min !== undefined) out.push({ kind: 'below the minimum', path, value: s.min - 1, says: new RegExp(`^expected a number >= |${OUT_OF_SAFE_RANGE.source}`) });
      if (s.max !== undefined) out.push({ kind: 'above the maximum', path, value: s.max + 1, says: new RegExp(`^expected a number <= |${OUT_OF_SAFE_RANGE.source}`) });
      break;
    }
    case 'string':
      out.push({ kind: 'oversize string', path, value: 'x'.repeat(s.max + 1), says: /^expected at most \d+ characters, got \d+$/ });
      if (s.min > 0) out.push({ kind: 'empty string', path, value: '', says: /^expected at least 1 character/ });
      if ((s.pattern || s.refine) && NOT_MATCHING.length <= s.max) out.push({ kind: 'not matching', path, value: NOT_MATCHING, says: /./ });
      break;
    case 'enum':
      out.push({ kind: 'not one of', path, value: 'bogus', says: /^expected one of .*, got "bogus"$/ });
      break;
    case 'array': {
      out.push({ kind: 'oversize array', path, value: Array.from({ length: s.max + 1 }, () => null), says: /^expected at most \d+ items, got \d+$/ });
      const items = value as unknown[];
      items.forEach((item, i) => out.push(...mutations(s.type === 'array' ? s.item : s, item, [...path, i])));
      break;
    }
    case 'json':
      out.push({ kind: 'oversize JSON', path, value: { big: 'x'.repeat(s.max) }, says: /^expected at most \d+ characters of JSON/ });
      break;
    case 'object': {
      const fields = s.fields;
      out.push({ kind: 'unknown key', path: [...path, 'no_such_key'], value: true, says: /^unknown key/ });
      const record = value as Record<string, unknown>;
      for (const [key, field] of Object.entries(fields)) {
        const at = [...path, key];
        if (field.type !== 'optional' && field.type !== 'default') out.push({ kind: 'missing', path: at, value: REMOVE, says: WRONG_TYPE });
        const v = record[key];
        if (v !== undefined && v !== null) out.push(...mutations(field, v, at));
        else out.push({ kind: 'wrong type', path: at, value: wrongType(unwrapped(field)), says: WRONG_TYPE });
      }
      break;
    }
  }
  return out;
}

function applied(value: unknown, m: Mutation): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let target = copy;
  for (const key of m.path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  const last = m.path.at(-1) as string | number;
  if (m.value === REMOVE) delete target[last];
  else target[last] = m.value;
  return copy;
}

const cases = Object.entries(RECORDS).map(([name, schema]) => ({ name, schema, arbitrary: arbitraryOf(schema.spec) }));
const caseIndex = fc.integer({ min: 0, max: cases.length - 1 });

describe('the record schemas, for records built from their own definitions', () => {
  it('accept every record the generators build, and give back its fields', () => {
    fc.assert(
      fc.property(caseIndex.chain((i) => fc.tuple(fc.constant(i), (cases[i] as (typeof cases)[number]).arbitrary)), ([i, record]) => {
        const c = cases[i] as (typeof cases)[number];
        const result = c.schema.check(record);
        expect(result, c.name).toMatchObject({ ok: true });
        if (result.ok) expect(result.value).toMatchObject(record as object);
      }),
      { numRuns: 1500, seed: 20261207 },
    );
  });

  it('refuse each single mutation with one error that names the mutated field', () => {
    const arbitrary = caseIndex.chain((i) =>
      (cases[i] as (typeof cases)[number]).arbitrary.chain((record) => {
        const all = mutations((cases[i] as (typeof cases)[number]).schema.spec, record, []);
        return fc.tuple(fc.constant(i), fc.constant(record), fc.constantFrom(...all));
      }),
    );
    fc.assert(
      fc.property(arbitrary, ([i, record, m]) => {
        const c = cases[i] as (typeof cases)[number];
        const result = c.schema.check(applied(record, m));
        const where = `${c.name}, ${m.kind} at ${m.path.join('.')}`;
        expect(result.ok, where).toBe(false);
        if (result.ok) return;
        expect(result.errors, where).toHaveLength(1);
        const [error] = result.errors as [string];
        expect(error.slice(0, error.indexOf(': ')), where).toBe(m.path.join('.'));
        expect(error.slice(error.indexOf(': ') + 2), where).toMatch(m.says);
      }),
      { numRuns: 4000, seed: 20261207 },
    );
  }, 60_000);

  it('accept an unknown key when told to drop it (records read back from the state table), and drop it', () => {
    fc.assert(
      fc.property(caseIndex.chain((i) => fc.tuple(fc.constant(i), (cases[i] as (typeof cases)[number]).arbitrary)), ([i, record]) => {
        const c = cases[i] as (typeof cases)[number];
        const strict = c.schema.check(record);
        const lenient = c.schema.check({ ...(record as object), written_by_a_newer_version: 1 }, { unknownKeys: 'drop' });
        expect(lenient).toEqual(strict);
      }),
      { numRuns: 300, seed: 20261207 },
    );
  });
});
