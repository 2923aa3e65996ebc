/** Structured JSON log lines (one object per line) for the daemon (STYLE.md). */
import { appendFileSync } from 'node:fs';

export type LogLevel = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
const rank: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4 };

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Writes to `file` when given (appending), else to stderr. Never throws. */
export function jsonLogger(options: { level?: string; file?: string; base?: Record<string, unknown>; write?: (line: string) => void }): Logger {
  const min = rank[(options.level?.toUpperCase() as LogLevel) ?? 'INFO'] ?? rank.INFO;
  const write =
    options.write ??
    ((line: string) => {
      try {
        if (options.file) appendFileSync(options.file, line);
        else process.stderr.write(line);
      } catch {
        // logging must never take the agent down
      }
    });
  return {
    log(level, msg, fields = {}) {
      if (rank[level] < min) return;
      write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...options.base, ...fields })}\n`);
    },
  };
}
