/**
 * Reading one key's text as its type. Each reader returns the value, or what was expected in
 * words that go straight into the error ("expected an integer from 0 to 2147483647, got "abc"").
 */
import type { ConfigKeySpec } from './keys.js';
import { excerpt } from '../text.js';

export type Read<T> = { ok: true; value: T } | { ok: false; message: string };

const TRUE = new Set(['true', 'on', 'yes', '1', 't', 'y']);
const FALSE = new Set(['false', 'off', 'no', '0', 'f', 'n']);

const got = (text: string): string => (text === '' ? 'an empty value' : `"${excerpt(text)}"`);

/** repmgr's parse_bool forms, case-insensitive. */
export function readBool(text: string): Read<boolean> {
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return { ok: true, value: true };
  if (FALSE.has(t)) return { ok: true, value: false };
  return { ok: false, message: `expected a boolean (true/false, on/off, yes/no, 1/0), got ${got(text)}` };
}

function range(spec: Pick<ConfigKeySpec<unknown>, 'min' | 'max'>, noun: string): string {
  const { min, max } = spec;
  if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

function inRange(n: number, spec: Pick<ConfigKeySpec<unknown>, 'min' | 'max'>): boolean {
  return (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
}

export function readInt(text: string, spec: Pick<ConfigKeySpec<unknown>, 'min' | 'max'>): Read<number> {
  const t = text.trim();
  const expected = range(spec, 'an integer');
  if (!/^[+-]?\d{1,16}$/.test(t)) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  const n = Number(t);
  if (!Number.isSafeInteger(n) || !inRange(n, spec)) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  return { ok: true, value: n };
}

export function readNumber(text: string, spec: Pick<ConfigKeySpec<unknown>, 'min' | 'max'>): Read<number> {
  const t = text.trim();
  const expected = range(spec, 'a number');
  if (!/^[+-]?(\d{1,16}(\.\d{0,9})?|\.\d{1,9})$/.test(t)) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  const n = Number(t);
  if (!Number.isFinite(n) || !inRange(n, spec)) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  return { ok: true, value: n };
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** Bytes with PostgreSQL's memory units (kB, MB, GB, TB are powers of 1024). */
export function readBytes(text: string, spec: Pick<ConfigKeySpec<unknown>, 'min' | 'max'>): Read<number> {
  const m = /^\s*(\d{1,16})\s*([A-Za-z]{0,2})\s*$/.exec(text);
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  const expected = `${range(spec, 'a size in bytes')}, optionally with a unit (kB, MB, GB, TB), e.g. 16MB`;
  if (!m || unit === undefined) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n) || !inRange(n, spec)) return { ok: false, message: `expected ${expected}, got ${got(text)}` };
  return { ok: true, value: n };
}

export function readEnum(text: string, values: readonly string[]): Read<string> {
  const t = text.trim().toLowerCase();
  const found = values.find((v) => v.toLowerCase() === t);
  if (found !== undefined) return { ok: true, value: found };
  return { ok: false, message: `expected one of ${values.join(', ')}, got ${got(text)}` };
}

/** A comma-separated list (repmgr's event_notifications); blanks around items are dropped. */
export function readList(text: string): Read<string[]> {
  return { ok: true, value: text.split(',').map((s) => s.trim()).filter((s) => s !== '') };
}

/** What a key expects, in words: "an integer from 0 to 2147483647", "one of ping, connection, query". */
export function expectation(spec: ConfigKeySpec<unknown>): string {
  switch (spec.type) {
    case 'int':
      return range(spec, 'an integer');
    case 'number':
      return range(spec, 'a number');
    case 'bytes':
      return range(spec, 'a size in bytes');
    case 'bool':
      return 'a boolean (true/false, on/off, yes/no, 1/0)';
    case 'enum':
      return `one of ${(spec.values ?? []).join(', ')}`;
    case 'list':
      return 'a comma-separated list';
    case 'string':
      return spec.expect ?? 'a text value';
  }
}
