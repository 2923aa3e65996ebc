/**
 * The validation combinators every record of pgvigil is written with (core/model.ts, the cluster
 * settings, the snapshot file, the switchover request, the agent's state file). A record is written
 * once, with these; its TypeScript type ({@link Infer}), its validator and its defaults all come
 * from that one definition. A schema is plain data ({@link Spec}) read by one small interpreter, so
 * tests can walk it (test/unit/schema.property.test.ts) and the agent bundle ships exactly the code
 * the tests run, with no validation library in it (docs/agent.md, "Figures").
 *
 * Strict by default, because every caller but one validates input that crossed a boundary: a key
 * the shape does not know is an error naming the key (with the nearest known key as a hint), and
 * every string, array and free-form object has a maximum size. The one exception is reading back
 * what pgvigil itself stored, which passes `unknownKeys: 'drop'` (docs/architecture.md,
 * "Validation").
 */
import { PgvigilError } from './errors.js';
import { closestName, excerpt } from './text.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** `reject`: a key the shape does not know is an error. `drop`: it is left out of the value. */
export type UnknownKeys = 'reject' | 'drop';

export interface CheckOptions {
  /** @default 'reject' */
  unknownKeys?: UnknownKeys;
}

/** A schema as data: what {@link Schema.check} interprets. */
export type Spec =
  | { readonly type: 'boolean' }
  | { readonly type: 'number'; readonly int: boolean; readonly gt?: number; readonly min?: number; readonly max?: number }
  | {
      readonly type: 'string';
      readonly min: number;
      readonly max: number;
      readonly pattern?: RegExp;
      /** What a string failing `pattern` should have been. */
      readonly message?: string;
      /** A further check: what is wrong with the string, or undefined. */
      readonly refine?: (value: string) => string | undefined;
    }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'nullable'; readonly inner: Spec }
  | { readonly type: 'optional'; readonly inner: Spec }
  | { readonly type: 'default'; readonly inner: Spec; readonly fallback: () => unknown }
  | { readonly type: 'array'; readonly item: Spec; readonly max: number }
  | { readonly type: 'object'; readonly what: string; readonly fields: Readonly<Record<string, Spec>> }
  /** A plain object of any JSON content, at most `max` characters as JSON. */
  | { readonly type: 'json'; readonly max: number }
  | { readonly type: 'custom'; readonly read: (input: unknown) => { value: unknown } | { problem: string } };

/** At most this many problems are listed; the rest are counted in one last line. */
const MAX_LISTED = 50;

interface Run {
  readonly unknownKeys: UnknownKeys;
  readonly errors: string[];
  unlisted: number;
}

export class Schema<T> {
  /** The value's type, for {@link Infer}; never set. */
  declare readonly _output: T;

  constructor(readonly spec: Spec) {}

  /** Validates without throwing; each error names the field path ("server.timeline: …"). */
  check(input: unknown, options: CheckOptions = {}): Validated<T> {
    const run: Run = { unknownKeys: options.unknownKeys ?? 'reject', errors: [], unlisted: 0 };
    const value = interpret(this.spec, input, '', run) as T;
    if (run.errors.length === 0) return { ok: true, value };
    if (run.unlisted > 0) run.errors.push(`(${run.unlisted} more ${run.unlisted === 1 ? 'problem' : 'problems'} not listed)`);
    return { ok: false, errors: run.errors };
  }

  /** The valid value (defaults applied); a `BAD_INPUT` error naming every bad field otherwise. */
  parse(input: unknown, options?: CheckOptions): T {
    const result = this.check(input, options);
    if (result.ok) return result.value;
    throw invalid(this.spec, result.errors);
  }

  safeParse(input: unknown, options?: CheckOptions): { success: true; data: T } | { success: false; error: PgvigilError } {
    const result = this.check(input, options);
    return result.ok ? { success: true, data: result.value } : { success: false, error: invalid(this.spec, result.errors) };
  }
}

function invalid(spec: Spec, errors: string[]): PgvigilError {
  return new PgvigilError('BAD_INPUT', `${spec.type === 'object' ? spec.what : 'value'} is not valid: ${errors.join('; ')}`);
}

/** A field that may be missing; the key is optional in the type too. */
export class OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional = true as const;
}

export type Infer<S extends Schema<unknown>> = S['_output'];

export type Shape = Readonly<Record<string, Schema<unknown>>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { -readonly [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

export class ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  constructor(
    what: string,
    readonly shape: S,
  ) {
    super({ type: 'object', what, fields: Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.spec])) });
  }

  /**
   * Validates only the fields present in `input` (an update of some fields), each as in a whole
   * record; unknown keys are refused as {@link check} does.
   */
  checkSome(input: Partial<Record<keyof S, unknown>>, options: CheckOptions = {}): Validated<Partial<ObjectOf<S>>> {
    const present = Object.fromEntries(Object.entries(this.shape).filter(([k]) => input[k as keyof S] !== undefined));
    return new ObjectSchema((this.spec as { what: string }).what, present).check(input, options) as Validated<Partial<ObjectOf<S>>>;
  }
}

// ------------------------------------------------------------------------------------------------
// The combinators

export const boolean = new Schema<boolean>({ type: 'boolean' });

export interface NumberRules {
  int?: boolean;
  /** Exclusive lower bound. */
  gt?: number;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
}

export function number(rules: NumberRules = {}): Schema<number> {
  return new Schema({ type: 'number', ...rules, int: rules.int ?? false });
}

/** An integer in [min, max]. */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER): Schema<number> {
  return number({ int: true, min, max });
}

export interface StringRules {
  /** @default 0 */
  min?: number;
  /** Every string has a bound. */
  max: number;
  pattern?: RegExp;
  /** What a string failing `pattern` should have been. */
  message?: string;
  /** A further check: what is wrong with the string, or undefined. */
  refine?: (value: string) => string | undefined;
}

export function string(rules: StringRules): Schema<string> {
  return new Schema({ type: 'string', ...rules, min: rules.min ?? 0 });
}

export function oneOf<const V extends readonly string[]>(values: V): Schema<V[number]> {
  return new Schema({ type: 'enum', values });
}

export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  return new Schema({ type: 'nullable', inner: schema.spec });
}

export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return new OptionalSchema({ type: 'optional', inner: schema.spec });
}

/** A missing (undefined) value becomes `fallback()`; the key is required in the type. */
export function withDefault<T>(schema: Schema<T>, fallback: () => NoInfer<T>): Schema<T> {
  return new Schema({ type: 'default', inner: schema.spec, fallback });
}

export function array<T>(item: Schema<T>, max: number): Schema<T[]> {
  return new Schema({ type: 'array', item: item.spec, max });
}

/** An object with exactly these fields; `what` names it in errors ("node record is not valid: …"). */
export function object<S extends Shape>(what: string, shape: S): ObjectSchema<S> {
  return new ObjectSchema(what, shape);
}

/** A plain object of JSON data, at most `max` characters when serialized; the value is a copy. */
export function json(max: number): Schema<Record<string, unknown>> {
  return new Schema({ type: 'json', max });
}

/** A value no combinator describes: `read` returns it, or what was wrong with the input. */
export function custom<T>(read: (input: unknown) => { value: T } | { problem: string }): Schema<T> {
  return new Schema({ type: 'custom', read });
}

// ------------------------------------------------------------------------------------------------
// The interpreter

function at(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

function fail(run: Run, path: string, message: string): undefined {
  if (run.errors.length < MAX_LISTED) run.errors.push(`${path === '' ? '(root)' : path}: ${message}`);
  else run.unlisted += 1;
  return undefined;
}

/** What an input is, for "expected …, got X". */
function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  if (typeof input === 'number' && !Number.isFinite(input)) return Number.isNaN(input) ? 'NaN' : 'Infinity';
  if (typeof input === 'object' && !isPlainObject(input)) return (input as object).constructor?.name ?? 'object';
  return typeof input;
}

/** An input quoted back in a message, bounded. */
function shown(input: unknown): string {
  if (typeof input === 'string') return `"${excerpt(input)}"`;
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  return describe(input);
}

/** What JSON.parse and DynamoDB's unmarshall produce for an object: no class, no array. */
function isPlainObject(input: unknown): input is Record<string, unknown> {
  if (typeof input !== 'object' || input === null) return false;
  const proto: unknown = Object.getPrototypeOf(input);
  return proto === Object.prototype || proto === null;
}

function interpret(spec: Spec, input: unknown, path: string, run: Run): unknown {
  switch (spec.type) {
    case 'boolean':
      return typeof input === 'boolean' ? input : fail(run, path, `expected a boolean, got ${describe(input)}`);
    case 'number': {
      if (typeof input !== 'number' || !Number.isFinite(input)) return fail(run, path, `expected a number, got ${describe(input)}`);
      if (spec.int && !Number.isInteger(input)) return fail(run, path, `expected an integer, got ${input}`);
      if (spec.int && !Number.isSafeInteger(input)) return fail(run, path, `${input} is outside the safe integer range`);
      if (spec.gt !== undefined && !(input > spec.gt)) return fail(run, path, `expected a number > ${spec.gt}, got ${input}`);
      if (spec.min !== undefined && input < spec.min) return fail(run, path, `expected a number >= ${spec.min}, got ${input}`);
      if (spec.max !== undefined && input > spec.max) return fail(run, path, `expected a number <= ${spec.max}, got ${input}`);
      return input;
    }
    case 'string': {
      if (typeof input !== 'string') return fail(run, path, `expected a string, got ${describe(input)}`);
      if (input.length < spec.min) return fail(run, path, `expected at least ${spec.min} ${spec.min === 1 ? 'character' : 'characters'}, got ${input.length}`);
      if (input.length > spec.max) return fail(run, path, `expected at most ${spec.max} characters, got ${input.length}`);
      if (spec.pattern && !spec.pattern.test(input)) return fail(run, path, spec.message ?? `expected text matching ${String(spec.pattern)}, got ${shown(input)}`);
      const problem = spec.refine?.(input);
      return problem === undefined ? input : fail(run, path, problem);
    }
    case 'enum':
      return spec.values.includes(input as string) ? input : fail(run, path, `expected one of ${spec.values.join('|')}, got ${shown(input)}`);
    case 'nullable':
      return input === null ? null : interpret(spec.inner, input, path, run);
    case 'optional':
      return input === undefined ? undefined : interpret(spec.inner, input, path, run);
    case 'default':
      return input === undefined ? spec.fallback() : interpret(spec.inner, input, path, run);
    case 'array': {
      if (!Array.isArray(input)) return fail(run, path, `expected an array, got ${describe(input)}`);
      if (input.length > spec.max) return fail(run, path, `expected at most ${spec.max} items, got ${input.length}`);
      // An index loop, not map(): a hole in a sparse array is an undefined item.
      const out: unknown[] = [];
      for (let i = 0; i < input.length; i++) out.push(interpret(spec.item, input[i], at(path, i), run));
      return out;
    }
    case 'object': {
      if (!isPlainObject(input)) return fail(run, path, `expected an object, got ${describe(input)}`);
      const out: Record<string, unknown> = {};
      // for…in, not Object.entries: this runs for every object of every heartbeat.
      for (const key in spec.fields) {
        const field = spec.fields[key] as Spec;
        const value = Object.hasOwn(input, key) ? input[key] : undefined;
        if (value === undefined && field.type === 'optional') continue;
        out[key] = interpret(field, value, at(path, key), run);
      }
      if (run.unknownKeys === 'reject') {
        for (const key of Object.keys(input)) {
          if (Object.hasOwn(spec.fields, key) || input[key] === undefined) continue;
          const near = closestName(key, Object.keys(spec.fields), Math.max(2, Math.floor(key.length / 4)));
          fail(run, at(path, excerpt(key, 64)), `unknown key${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
        }
      }
      return out;
    }
    case 'json': {
      if (!isPlainObject(input)) return fail(run, path, `expected an object, got ${describe(input)}`);
      let text: string;
      try {
        text = JSON.stringify(input);
      } catch {
        return fail(run, path, 'expected JSON data');
      }
      if (text.length > spec.max) return fail(run, path, `expected at most ${spec.max} characters of JSON, got ${text.length}`);
      return JSON.parse(text) as unknown;
    }
    case 'custom': {
      const result = spec.read(input);
      return 'value' in result ? result.value : fail(run, path, result.problem);
    }
  }
}
