/**
 * PostgreSQL write-ahead-log positions ("0/3000060"). Kept as text on the wire and in DynamoDB,
 * compared as 64-bit integers.
 */
export const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

export function isLsn(text: string): boolean {
  return LSN_PATTERN.test(text);
}

export function parseLsn(text: string): bigint {
  if (!isLsn(text)) throw new RangeError(`not a WAL position: "${text}" (expected e.g. 0/3000060)`);
  const [hi, lo] = text.split('/') as [string, string];
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function formatLsn(value: bigint): string {
  const hi = value >> 32n;
  const lo = value & 0xffffffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Bytes from `b` to `a` (negative when `a` is behind `b`). */
export function lsnDiff(a: string, b: string): bigint {
  return parseLsn(a) - parseLsn(b);
}

export function compareLsn(a: string, b: string): number {
  const d = lsnDiff(a, b);
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}

export function maxLsn(values: readonly (string | null | undefined)[]): string | null {
  let best: string | null = null;
  for (const v of values) if (v && (best === null || compareLsn(v, best) > 0)) best = v;
  return best;
}
