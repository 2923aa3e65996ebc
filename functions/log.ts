/**
 * A small structured logger: one JSON object per line on stdout/stderr, which CloudWatch Logs
 * Insights queries directly. (Powertools Logger is not a dependency of this project.)
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const ORDER: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

export function jsonLogger(
  base: Record<string, unknown> = {},
  level: LogLevel = (process.env.PGVIGIL_LOG_LEVEL?.toUpperCase() as LogLevel | undefined) ?? 'INFO',
  write: (line: string, level: LogLevel) => void = (line, l) => (l === 'ERROR' || l === 'WARN' ? process.stderr : process.stdout).write(`${line}\n`),
): Logger {
  const min = ORDER[level] ?? ORDER.INFO;
  const emit = (l: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (ORDER[l] < min) return;
    write(JSON.stringify({ level: l, timestamp: new Date().toISOString(), message, ...base, ...serialise(fields) }), l);
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARN', m, f),
    error: (m, f) => emit('ERROR', m, f),
    child: (fields) => jsonLogger({ ...base, ...fields }, level, write),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

function serialise(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? { name: v.name, message: v.message, ...('detail' in v ? { detail: (v as { detail: unknown }).detail } : {}) } : v;
  }
  return out;
}
