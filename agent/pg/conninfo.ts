/**
 * conninfo handling for the agent: parsing, password stripping and host/port come from
 * core/conninfo (both libpq syntaxes); this adds formatting with optional values. The settings a
 * node-postgres client gets from a conninfo are the adapter's (adapters/pg-session.ts).
 */
import { formatConninfo as formatCore, hostPort, parseConninfo, stripPassword } from '../../core/conninfo.js';

export { hostPort, parseConninfo, stripPassword };

/** Formats keywords as a `key=value` conninfo; undefined values are left out. */
export function formatConninfo(params: Record<string, string | undefined>): string {
  const defined: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) defined[k] = v;
  return formatCore(defined);
}
