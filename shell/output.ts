/**
 * repmgr-style terminal output: `INFO:`, `NOTICE:`, `WARNING:`, `ERROR:`, `DETAIL:`, `HINT:` lines on
 * stderr, results on stdout. Commands write through an {@link Output} so tests can capture it.
 */
export interface Output {
  /** A result line on stdout. */
  print(line: string): void;
  info(message: string): void;
  notice(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  detail(message: string): void;
  hint(message: string): void;
  debug(message: string): void;
}

export type Level = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
const rank: Record<Level, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4 };

export function streamOutput(
  stdout: { write(s: string): unknown } = process.stdout,
  stderr: { write(s: string): unknown } = process.stderr,
  level: Level = 'INFO',
): Output {
  const log = (lvl: Level | 'DETAIL' | 'HINT', message: string): void => {
    if (lvl !== 'DETAIL' && lvl !== 'HINT' && rank[lvl] < rank[level]) return;
    for (const line of message.split('\n')) stderr.write(`${lvl}: ${line}\n`);
  };
  return {
    print: (line) => void stdout.write(`${line}\n`),
    info: (m) => log('INFO', m),
    notice: (m) => log('NOTICE', m),
    warning: (m) => log('WARNING', m),
    error: (m) => log('ERROR', m),
    detail: (m) => log('DETAIL', m),
    hint: (m) => log('HINT', m),
    debug: (m) => log('DEBUG', m),
  };
}

/** Captures output in memory (tests, and commands that render for another command). */
export function memoryOutput(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = streamOutput(
    { write: (s: string) => stdout.push(...s.replace(/\n$/, '').split('\n')) },
    { write: (s: string) => stderr.push(...s.replace(/\n$/, '').split('\n')) },
    'DEBUG',
  );
  return Object.assign(out, { stdout, stderr });
}
