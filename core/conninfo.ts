/**
 * libpq connection strings (docs/configuration.md): the `key=value` form and the `postgresql://` URI form, parsed
 * by libpq's rules, so that a conninfo repmgr accepted is accepted here and one libpq would reject
 * is rejected here with the same kind of message.
 *
 * Passwords: a conninfo may carry one (repmgr allows it), but pgvigil never stores or prints it —
 * {@link stripPassword} removes it from either form and keeps everything else as written.
 */
import { PgvigilError } from './errors.js';

/**
 * Every keyword libpq knows (PostgreSQL 10 to 18). libpq rejects any other keyword with
 * `invalid connection option`, so repmgr did too.
 */
export const CONNINFO_KEYWORDS: readonly string[] = [
  'service', 'user', 'password', 'passfile', 'require_auth', 'channel_binding', 'connect_timeout',
  'dbname', 'host', 'hostaddr', 'port', 'client_encoding', 'options', 'application_name',
  'fallback_application_name', 'keepalives', 'keepalives_idle', 'keepalives_interval',
  'keepalives_count', 'tcp_user_timeout', 'sslmode', 'sslnegotiation', 'sslcompression', 'sslcert',
  'sslkey', 'sslcertmode', 'sslpassword', 'sslrootcert', 'sslcrl', 'sslcrldir', 'sslsni',
  'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'gssencmode', 'krbsrvname',
  'gsslib', 'gssdelegation', 'replication', 'target_session_attrs', 'load_balance_hosts',
  'requiressl', 'scram_client_key', 'scram_server_key', 'min_protocol_version',
  'max_protocol_version', 'oauth_issuer', 'oauth_client_id', 'oauth_client_secret', 'oauth_scope',
];
const KEYWORDS = new Set(CONNINFO_KEYWORDS);

/** Keywords whose value is a secret; {@link stripPassword} removes all of them. */
const SECRET_KEYWORDS = new Set(['password', 'sslpassword', 'oauth_client_secret', 'scram_client_key', 'scram_server_key']);

export type ConninfoForm = 'keyword' | 'uri';

/** One `key=value` pair of a keyword-form conninfo and where it was written. */
interface Span {
  key: string;
  value: string;
  start: number;
  end: number;
}

function bad(message: string): PgvigilError {
  return new PgvigilError('BAD_CONFIG', `invalid conninfo: ${message}`, {
    hint: 'use libpq syntax: "host=db1 port=5432 user=repmgr dbname=repmgr" or "postgresql://repmgr@db1:5432/repmgr"',
  });
}

/** How error messages quote a piece of the conninfo: not at all when the piece could be a secret. */
type Quote = (fragment: string) => string;

function quoter(text: string): Quote {
  // A password can be anywhere a syntax error is (an unquoted "password=a b" makes "b" a keyword),
  // so when the conninfo may hold one, messages name the problem without echoing the text.
  const mayHoldSecret = /pass|secret|scram|@/i.test(text);
  return (fragment) => (mayHoldSecret ? '(not shown: the conninfo may contain a password)' : `"${fragment}"`);
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

function uriPrefixLength(text: string): number {
  if (text.startsWith('postgresql://')) return 'postgresql://'.length;
  if (text.startsWith('postgres://')) return 'postgres://'.length;
  return 0;
}

/** libpq's conninfo_parse, keeping each pair's position so a pair can be cut out verbatim. */
function scanKeywordForm(text: string, q: Quote = quoter(text)): Span[] {
  const spans: Span[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && text[i] !== '=' && !isSpace(text[i])) i++;
    const key = text.slice(start, i);
    while (i < n && isSpace(text[i])) i++;
    if (text[i] !== '=') throw bad(`missing "=" after ${q(key)}`);
    i++;
    while (i < n && isSpace(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === '\\') {
          i++;
          if (i < n) value += text[i];
          i++;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) throw bad(`unterminated quoted string in the value of ${q(key)}`);
    } else {
      while (i < n && !isSpace(text[i])) {
        if (text[i] === '\\') {
          i++;
          if (i < n) value += text[i];
          i++;
        } else {
          value += text[i];
          i++;
        }
      }
    }
    if (!KEYWORDS.has(key)) throw bad(`unknown connection option ${q(key)}`);
    spans.push({ key, value, start, end: i });
  }
  return spans;
}

/** libpq's percent-decoding: `%XX` tokens, no `%00`, and the result must be valid UTF-8. */
function percentDecode(text: string, what: string, q: Quote): string {
  if (!text.includes('%')) return text;
  for (let i = text.indexOf('%'); i !== -1; i = text.indexOf('%', i + 1)) {
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw bad(`invalid percent-encoded token in ${what}: ${q(text)}`);
    if (hex === '00') throw bad(`forbidden value %00 in ${what}: ${q(text)}`);
  }
  try {
    return decodeURIComponent(text);
  } catch {
    throw bad(`percent-encoded ${what} is not valid UTF-8: ${q(text)}`);
  }
}

interface UriParts {
  params: Record<string, string>;
  /** Where the password in the user part is (":secret"), if any. */
  userPassword: { start: number; end: number } | undefined;
  /** Where the query string starts (its "?"), or undefined when there is none. */
  queryStart: number | undefined;
  /** Query parameters as written, with their decoded keys. */
  query: { key: string; raw: string }[];
}

/** libpq's conninfo_uri_parse_options. */
function scanUri(text: string, q: Quote = quoter(text)): UriParts {
  const params: Record<string, string> = {};
  const query: UriParts['query'] = [];
  let userPassword: UriParts['userPassword'];
  let queryStart: number | undefined;
  let i = uriPrefixLength(text);
  const n = text.length;

  // The user part ends at an "@" that comes before any "/".
  let j = i;
  while (j < n && text[j] !== '@' && text[j] !== '/') j++;
  if (text[j] === '@') {
    const userinfo = text.slice(i, j);
    const colon = userinfo.indexOf(':');
    const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    if (user !== '') params.user = percentDecode(user, 'user name', q);
    if (colon !== -1) {
      const password = userinfo.slice(colon + 1);
      if (password !== '') params.password = percentDecode(password, 'password', q);
      userPassword = { start: i + colon, end: j };
    }
    i = j + 1;
  }

  // Hosts, each with an optional port, separated by commas.
  const hosts: string[] = [];
  const ports: string[] = [];
  for (;;) {
    let host: string;
    if (text[i] === '[') {
      const close = text.indexOf(']', i);
      if (close === -1) throw bad('end of string reached when looking for the "]" of an IPv6 host address');
      host = text.slice(i + 1, close);
      if (host === '') throw bad('IPv6 host address may not be empty');
      i = close + 1;
      const next = text[i];
      if (next !== undefined && next !== ':' && next !== '/' && next !== '?' && next !== ',') {
        throw bad(`unexpected character ${q(next)} at position ${i + 1} (expected ":", "/", "?" or ",")`);
      }
    } else {
      const start = i;
      while (i < n && !':/?,'.includes(text[i] as string)) i++;
      const raw = text.slice(start, i);
      // libpq would take "p@ss@db1" after "user:" as a host; it is far likelier a password with an
      // unencoded "@", which must not survive stripPassword as a "host".
      if (raw.includes('@')) throw bad('unexpected "@" in a host name (write "@" in a user name or password as %40)');
      host = percentDecode(raw, 'host', q);
    }
    let port = '';
    if (text[i] === ':') {
      const start = ++i;
      while (i < n && !'/?,'.includes(text[i] as string)) i++;
      port = percentDecode(text.slice(start, i), 'port', q);
    }
    hosts.push(host);
    ports.push(port);
    if (text[i] !== ',') break;
    i++;
  }
  if (hosts.some((h) => h !== '')) params.host = hosts.join(',');
  if (ports.some((p) => p !== '')) params.port = ports.join(',');

  if (text[i] === '/') {
    const start = ++i;
    while (i < n && text[i] !== '?') i++;
    const dbname = text.slice(start, i);
    // libpq would read "u:pa/ss@db1/x" as host "u", port "pa" and database "ss@db1/x": a password
    // with an unencoded "/" that stripPassword could not find. Refuse it.
    if (dbname.includes('@')) throw bad('unexpected "@" in the database name (write "/" and "@" in a user name or password as %2F and %40)');
    if (dbname !== '') params.dbname = percentDecode(dbname, 'database name', q);
  }

  if (text[i] === '?') {
    queryStart = i;
    i++;
    while (i <= n) {
      let end = text.indexOf('&', i);
      if (end === -1) end = n;
      const pair = text.slice(i, end);
      if (pair !== '') {
        const eq = pair.indexOf('=');
        if (eq === -1) throw bad(`missing key/value separator "=" in URI query parameter ${q(pair)}`);
        if (pair.indexOf('=', eq + 1) !== -1) throw bad(`extra key/value separator "=" in URI query parameter ${q(pair)}`);
        let key = percentDecode(pair.slice(0, eq), 'query parameter', q);
        let value = percentDecode(pair.slice(eq + 1), 'query parameter', q);
        // libpq's JDBC compatibility: ssl=true means sslmode=require.
        if (key === 'ssl' && value === 'true') {
          key = 'sslmode';
          value = 'require';
        }
        if (!KEYWORDS.has(key)) throw bad(`invalid URI query parameter ${q(key)}`);
        params[key] = value;
        query.push({ key, raw: pair });
      }
      i = end + 1;
    }
  } else if (i < n) {
    throw bad(`unexpected character ${q(text[i] ?? '')} at position ${i + 1} of the URI`);
  }
  return { params, userPassword, queryStart, query };
}

/** libpq checks ports only when connecting; checking here gives the error a line in the config. */
function checkPorts(params: Record<string, string>, q: Quote): Record<string, string> {
  const port = params.port;
  if (port !== undefined) {
    for (const p of port.split(',')) {
      if (p !== '' && !(/^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535)) {
        throw bad(`invalid port ${q(p)} (expected an integer from 1 to 65535)`);
      }
    }
  }
  return params;
}

/** Which of libpq's two syntaxes a conninfo uses. */
export function conninfoForm(text: string): ConninfoForm {
  return uriPrefixLength(text) > 0 ? 'uri' : 'keyword';
}

/**
 * Parses a libpq connection string into its keyword/value pairs (later pairs win, as in libpq).
 * Multiple URI hosts come back as libpq keeps them: `host: "a,b"`, `port: "5432,5433"`.
 * @throws PgvigilError `BAD_CONFIG` naming the problem
 */
export function parseConninfo(text: string): Record<string, string> {
  if (conninfoForm(text) === 'uri') return checkPorts(scanUri(text).params, quoter(text));
  const params: Record<string, string> = {};
  for (const span of scanKeywordForm(text)) params[span.key] = span.value;
  return checkPorts(params, quoter(text));
}

/**
 * The same conninfo without its password (and other secrets such as `sslpassword`), in the form
 * it was written and otherwise unchanged. Never throws: a string that does not parse is redacted
 * by pattern, and if that still looks like it could hold a password, replaced altogether.
 */
export function stripPassword(conninfo: string): string {
  try {
    parseConninfo(conninfo);
    return conninfoForm(conninfo) === 'uri' ? stripUri(conninfo) : stripKeywordForm(conninfo);
  } catch {
    return stripLoosely(conninfo);
  }
}

function stripKeywordForm(text: string): string {
  const secrets = scanKeywordForm(text).filter((s) => SECRET_KEYWORDS.has(s.key));
  let out = text;
  for (const s of secrets.reverse()) {
    let end = s.end;
    while (end < out.length && isSpace(out[end])) end++;
    out = out.slice(0, s.start) + out.slice(end);
  }
  return out.trimEnd();
}

function stripUri(text: string): string {
  const parts = scanUri(text);
  let head = parts.queryStart === undefined ? text : text.slice(0, parts.queryStart);
  if (parts.userPassword) head = head.slice(0, parts.userPassword.start) + head.slice(parts.userPassword.end);
  const kept = parts.query.filter((q) => !SECRET_KEYWORDS.has(q.key)).map((q) => q.raw);
  return kept.length > 0 ? `${head}?${kept.join('&')}` : head;
}

/** The conninfo could not be parsed: remove anything that may be a secret by pattern. */
function stripLoosely(text: string): string {
  let out = text.replace(
    /\b(password|sslpassword|oauth_client_secret|scram_client_key|scram_server_key)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s\\&]|\\.)*)/gi,
    '',
  );
  const scheme = out.indexOf('://');
  if (scheme !== -1) {
    const start = scheme + 3;
    const stop = out.slice(start).search(/[/?]/);
    const end = stop === -1 ? out.length : start + stop;
    const authority = out.slice(start, end);
    const at = authority.lastIndexOf('@');
    if (at !== -1) out = `${out.slice(0, start)}${authority.slice(0, at).split(':')[0] ?? ''}@${authority.slice(at + 1)}${out.slice(end)}`;
  }
  out = out.replace(/\s+/g, ' ').trim();
  const suspicious = /password|secret|scram_/i.test(out) || /:\/\/[^@]*:[^@]*@/.test(out);
  return suspicious ? '(conninfo hidden: it does not parse and may contain a password)' : out;
}

/** Whether a conninfo carries a password in either form (a parse failure counts as "maybe"). */
export function hasPassword(conninfo: string): boolean {
  try {
    const params = parseConninfo(conninfo);
    return Object.keys(params).some((k) => SECRET_KEYWORDS.has(k));
  } catch {
    return /password/i.test(conninfo);
  }
}

function quoteValue(value: string): string {
  if (value !== '' && !/[\s'\\]/.test(value)) return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Renders keyword/value pairs as a keyword-form conninfo that {@link parseConninfo} reads back
 * unchanged (values with spaces, quotes or backslashes are quoted and escaped).
 */
export function formatConninfo(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${quoteValue(v)}`)
    .join(' ');
}

/** Host and port a conninfo points at (the first of several; libpq defaults localhost:5432). */
export function hostPort(conninfo: string): { host: string; port: number } {
  const p = parseConninfo(conninfo);
  return { host: (p.host || p.hostaddr || 'localhost').split(',')[0] as string, port: Number((p.port || '5432').split(',')[0]) };
}
