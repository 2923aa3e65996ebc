/**
 * The repmgr.conf line syntax. repmgr 4/5 read it with PostgreSQL's configuration-file lexer
 * (guc-file.l), so this follows that lexer: `key = value` (the `=` is optional), values unquoted
 * or in single quotes (`''` and backslash escapes inside), `#` comments, blank lines. pgvigil also
 * accepts double quotes (repmgr 3 did) and unquoted values containing spaces.
 */
import { excerpt } from '../text.js';

/** One `key=value` assignment as written. */
export interface RawAssignment {
  /** Lower-cased key. */
  key: string;
  value: string;
  /** 1-based line number. */
  line: number;
}

export interface LexProblem {
  line: number;
  key: string | undefined;
  message: string;
}

export interface LexResult {
  assignments: RawAssignment[];
  problems: LexProblem[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)?/;

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r';


/** Quotes a piece of a line back to the user, unless it may hold a password. */
function shown(fragment: string): string {
  return /pass|secret|scram/i.test(fragment) ? '(not shown: it may contain a password)' : `"${excerpt(fragment)}"`;
}

/** PostgreSQL's GUC_scanstr escapes: \b \f \n \r \t, up to three octal digits, else the character itself. */
function readEscape(text: string, i: number): { char: string; next: number } {
  const c = text[i];
  switch (c) {
    case 'b':
      return { char: '\b', next: i + 1 };
    case 'f':
      return { char: '\f', next: i + 1 };
    case 'n':
      return { char: '\n', next: i + 1 };
    case 'r':
      return { char: '\r', next: i + 1 };
    case 't':
      return { char: '\t', next: i + 1 };
    default: {
      const octal = /^[0-7]{1,3}/.exec(text.slice(i, i + 3));
      if (octal) return { char: String.fromCharCode(parseInt(octal[0], 8) & 0xff), next: i + octal[0].length };
      return { char: c ?? '', next: i + 1 };
    }
  }
}

function readQuoted(text: string, start: number): { value: string; next: number } | undefined {
  const quote = text[start];
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\\') {
      const e = readEscape(text, i + 1);
      value += e.char;
      i = e.next;
    } else if (c === quote) {
      // Single quotes double as an escape ('it''s'), as in postgresql.conf.
      if (quote === "'" && text[i + 1] === "'") {
        value += "'";
        i += 2;
      } else {
        return { value, next: i + 1 };
      }
    } else {
      value += c;
      i++;
    }
  }
  return undefined;
}

function lexLine(text: string, line: number): RawAssignment | LexProblem | undefined {
  let i = 0;
  while (isBlank(text[i])) i++;
  if (i >= text.length || text[i] === '#') return undefined;
  const match = KEY.exec(text.slice(i));
  if (!match) {
    return { line, key: undefined, message: `expected key=value, found ${shown(text.trim())}` };
  }
  const key = match[0].toLowerCase();
  i += match[0].length;
  while (isBlank(text[i])) i++;
  const hasEquals = text[i] === '=';
  if (hasEquals) {
    i++;
    while (isBlank(text[i])) i++;
  }
  const c = text[i];
  if (c === undefined || c === '#') {
    if (!hasEquals) return { line, key, message: `expected key=value, found ${shown(text.trim())}` };
    return { key, value: '', line };
  }
  if (c === "'" || c === '"') {
    const quoted = readQuoted(text, i);
    if (!quoted) {
      return { line, key, message: `unterminated quoted value: the closing ${c} must be on the same line` };
    }
    let j = quoted.next;
    while (isBlank(text[j])) j++;
    if (j < text.length && text[j] !== '#') {
      return { line, key, message: `unexpected text after the quoted value: ${shown(text.slice(j))} (quote the whole value, or start a comment with #)` };
    }
    return { key, value: quoted.value, line };
  }
  const hash = text.indexOf('#', i);
  const value = (hash === -1 ? text.slice(i) : text.slice(i, hash)).replace(/[ \t\f\v\r]+$/, '');
  // Without "=", only a single word is a value (as in postgresql.conf); "some words here" is no assignment.
  if (!hasEquals && /[ \t\f\v]/.test(value)) return { line, key: undefined, message: `expected key=value, found ${shown(text.trim())}` };
  return { key, value, line };
}

/** Splits a repmgr.conf file into assignments, collecting every syntax problem. */
export function lexConfig(text: string): LexResult {
  const assignments: RawAssignment[] = [];
  const problems: LexProblem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((lineText, index) => {
    const result = lexLine(lineText, index + 1);
    if (result === undefined) return;
    if ('value' in result) assignments.push(result);
    else problems.push(result);
  });
  return { assignments, problems };
}
