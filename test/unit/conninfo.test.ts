import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONNINFO_KEYWORDS, formatConninfo, hasPassword, parseConninfo, stripPassword } from '../../core/conninfo.js';
import { PgvigilError } from '../../core/errors.js';

function errorOf(fn: () => unknown): PgvigilError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PgvigilError);
    return error as PgvigilError;
  }
  throw new Error('expected an error');
}

describe('parseConninfo, key=value form', () => {
  it('reads the pairs of a repmgr conninfo', () => {
    expect(parseConninfo('host=192.168.100.2 port=5432 user=repmgr dbname=repmgr connect_timeout=2')).toEqual({
      host: '192.168.100.2',
      port: '5432',
      user: 'repmgr',
      dbname: 'repmgr',
      connect_timeout: '2',
    });
  });

  it('allows whitespace around "=" and between pairs', () => {
    expect(parseConninfo('  host = db1\t\tport =5433  ')).toEqual({ host: 'db1', port: '5433' });
  });

  it('reads single-quoted values with spaces and backslash escapes', () => {
    expect(parseConninfo("application_name='my app' options='-c search_path=a\\'b' password='a\\\\b'")).toEqual({
      application_name: 'my app',
      options: "-c search_path=a'b",
      password: 'a\\b',
    });
  });

  it('reads backslash escapes in unquoted values', () => {
    expect(parseConninfo('password=a\\ b user=x')).toEqual({ password: 'a b', user: 'x' });
  });

  it('keeps the last of a repeated keyword, as libpq does', () => {
    expect(parseConninfo('host=a host=b')).toEqual({ host: 'b' });
  });

  it('reads an empty string as no parameters', () => {
    expect(parseConninfo('')).toEqual({});
    expect(parseConninfo("dbname=''")).toEqual({ dbname: '' });
  });

  it.each([
    ['host', 'missing "=" after "host"'],
    ['host db1', 'missing "=" after "host"'],
    ["host='db1", 'unterminated quoted string in the value of "host"'],
    ['hots=db1', 'unknown connection option "hots"'],
    ['host=db1 port=five', 'invalid port "five"'],
  ])('rejects %j naming the problem', (text, message) => {
    const error = errorOf(() => parseConninfo(text));
    expect(error.code).toBe('BAD_CONFIG');
    expect(error.message).toContain(message);
  });
});

describe('parseConninfo errors', () => {
  it.each([
    'host=db1 password=hunter 2more',
    "host=db1 password='hunter2",
    'host=db1 password=hunter2 hots=x',
    'postgresql://u:hunter2%zz@db1/x',
    'postgresql://u:hunter2%00@db1/x',
    'postgresql://u:hunter2/x@db1/x',
    'postgresql://u:hunter2@db1:x2more/x',
    'postgresql://db1/x?password=hunter2&colour=2more',
    'postgresql://db1/x?password=hunter2=2more',
  ])('never quote a password back, as in %j', (text) => {
    const error = errorOf(() => parseConninfo(text));
    expect(error.message).not.toMatch(/hunter|2more/);
  });
});

describe('parseConninfo, URI form', () => {
  it('reads user, password, host, port, database and parameters', () => {
    expect(parseConninfo('postgresql://repmgr:s3cret@db1.example.com:5433/repmgr?connect_timeout=2&application_name=node1')).toEqual({
      user: 'repmgr',
      password: 's3cret',
      host: 'db1.example.com',
      port: '5433',
      dbname: 'repmgr',
      connect_timeout: '2',
      application_name: 'node1',
    });
  });

  it('accepts the postgres:// prefix too', () => {
    expect(parseConninfo('postgres://db1/repmgr')).toEqual({ host: 'db1', dbname: 'repmgr' });
  });

  it('keeps several hosts and their ports as libpq does', () => {
    expect(parseConninfo('postgresql://db1:5432,db2:5433,db3/repmgr?target_session_attrs=read-write')).toEqual({
      host: 'db1,db2,db3',
      port: '5432,5433,',
      dbname: 'repmgr',
      target_session_attrs: 'read-write',
    });
  });

  it('reads IPv6 addresses in brackets', () => {
    expect(parseConninfo('postgresql://[::1]:5432,[2001:db8::7]/db')).toEqual({ host: '::1,2001:db8::7', port: '5432,', dbname: 'db' });
  });

  it('percent-decodes every part', () => {
    expect(parseConninfo('postgresql://us%40er:p%40ss%2Fw%C3%B6rd@%2Fvar%2Frun%2Fpostgresql/my%20db?application_name=a%26b')).toEqual({
      user: 'us@er',
      password: 'p@ss/wörd',
      host: '/var/run/postgresql',
      dbname: 'my db',
      application_name: 'a&b',
    });
  });

  it('reads an empty URI as no parameters', () => {
    expect(parseConninfo('postgresql://')).toEqual({});
  });

  it('maps ssl=true to sslmode=require, as libpq does', () => {
    expect(parseConninfo('postgresql://db1/x?ssl=true')).toEqual({ host: 'db1', dbname: 'x', sslmode: 'require' });
  });

  it.each([
    ['postgresql://db1/x?sslmode', 'missing key/value separator'],
    ['postgresql://db1/x?sslmode=a=b', 'extra key/value separator'],
    ['postgresql://db1/x?colour=blue', 'invalid URI query parameter "colour"'],
    ['postgresql://db1/x%zz', 'invalid percent-encoded token'],
    ['postgresql://db1/x%00', 'forbidden value %00'],
    ['postgresql://db1/x%ff', 'not valid UTF-8'],
    ['postgresql://[::1/x', '"]" of an IPv6 host address'],
    ['postgresql://[]/x', 'IPv6 host address may not be empty'],
    ['postgresql://[::1]x/db', 'unexpected character "x"'],
    ['postgresql://u:p@ss@db1/x', 'unexpected "@" in a host name'],
    ['postgresql://u:pa/ss@db1/x', 'unexpected "@" in the database name'],
    ['postgresql://db1:54x2/x', 'invalid port "54x2"'],
    ['postgresql://db1:5432,db2:70000/x', 'invalid port "70000"'],
  ])('rejects %j naming the problem', (text, message) => {
    const error = errorOf(() => parseConninfo(text));
    expect(error.code).toBe('BAD_CONFIG');
    expect(error.message).toContain(message);
  });
});

describe('stripPassword', () => {
  it.each([
    ['host=db1 password=secret user=repmgr', 'host=db1 user=repmgr'],
    ['password=secret host=db1', 'host=db1'],
    ['host=db1 user=repmgr password=secret', 'host=db1 user=repmgr'],
    ["host=db1 password='sec ret\\'s' dbname=x", 'host=db1 dbname=x'],
    ['host=db1  sslpassword=keypass  sslmode=verify-full', 'host=db1  sslmode=verify-full'],
    ["host=db1 application_name='a  b'", "host=db1 application_name='a  b'"],
  ])('removes the password from %j and keeps the rest as written', (text, stripped) => {
    expect(stripPassword(text)).toBe(stripped);
  });

  it.each([
    ['postgresql://repmgr:secret@db1:5432/repmgr', 'postgresql://repmgr@db1:5432/repmgr'],
    ['postgresql://:secret@db1/repmgr', 'postgresql://@db1/repmgr'],
    ['postgresql://repmgr@db1/x?password=secret', 'postgresql://repmgr@db1/x'],
    ['postgresql://db1/x?password=secret&sslmode=require', 'postgresql://db1/x?sslmode=require'],
    ['postgresql://db1/x?sslmode=require&password=secret&connect_timeout=2', 'postgresql://db1/x?sslmode=require&connect_timeout=2'],
    ['postgres://u:secret@db1,db2:5433/x?sslpassword=k&pass%77ord=secret', 'postgres://u@db1,db2:5433/x'],
  ])('removes the password from the URI %j', (text, stripped) => {
    expect(stripPassword(text)).toBe(stripped);
  });

  it('leaves a conninfo without a password unchanged', () => {
    const text = "host=db1 port=5432 user=repmgr dbname=repmgr connect_timeout=2 application_name='x y'";
    expect(stripPassword(text)).toBe(text);
  });

  it.each([
    "host=db1 password='never closed",
    'hots=db1 password=secret',
    'postgresql://u:secret@db1/x?colour=blue',
    'postgresql://u:se@cret@db1/x',
    'postgresql://u:se/cret@db1/x',
    'postgresql://u:se:cret@db1/x',
    'password',
  ])('removes a password even from the invalid conninfo %j', (text) => {
    const out = stripPassword(text);
    expect(out).not.toMatch(/secret|cret|never closed/);
  });

  it('never leaves a password in a keyword-form conninfo, whatever the password', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.constantFrom('password', 'sslpassword'), (secret, key) => {
        const password = `PW-${secret}`;
        const text = formatConninfo({ host: 'db1', [key]: password, user: 'repmgr' });
        const out = stripPassword(text);
        expect(out).not.toContain('PW-');
        expect(parseConninfo(out)).toEqual({ host: 'db1', user: 'repmgr' });
      }),
    );
  });

  it('never leaves a password in a URI, whatever the password', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.boolean(), (secret, inQuery) => {
        const password = encodeURIComponent(`PW-${secret}`);
        const text = inQuery ? `postgresql://repmgr@db1/repmgr?password=${password}` : `postgresql://repmgr:${password}@db1/repmgr`;
        const out = stripPassword(text);
        expect(out).not.toContain('PW-');
        expect(parseConninfo(out)).toEqual({ user: 'repmgr', host: 'db1', dbname: 'repmgr' });
      }),
    );
  });

  it('never throws and never returns a string with "password=" in it', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const out = stripPassword(text);
        expect(out).not.toMatch(/password\s*=/i);
      }),
    );
  });
});

describe('hasPassword', () => {
  it('finds a password in either form', () => {
    expect(hasPassword('host=db1 password=x')).toBe(true);
    expect(hasPassword('postgresql://u:x@db1/d')).toBe(true);
    expect(hasPassword('postgresql://u@db1/d')).toBe(false);
    expect(hasPassword('host=db1 user=repmgr')).toBe(false);
  });
});

describe('formatConninfo', () => {
  it('quotes values that need it', () => {
    expect(formatConninfo({ host: 'db1', application_name: "it's a b", options: '', password: 'a\\b' })).toBe(
      "host=db1 application_name='it\\'s a b' options='' password='a\\\\b'",
    );
  });

  it('renders what parseConninfo reads back unchanged', () => {
    const keyword = fc.constantFrom(...CONNINFO_KEYWORDS.filter((k) => k !== 'port'));
    fc.assert(
      fc.property(fc.dictionary(keyword, fc.string()), (params) => {
        expect(parseConninfo(formatConninfo(params))).toEqual(params);
      }),
    );
  });
});

describe('parseConninfo on arbitrary input', () => {
  it('throws nothing but PgvigilError', () => {
    const alphabet = fc.constantFrom(...'postgresql:/@[]%?&=\'\\ ,hostpasworduserdb0123456789aF\t\n'.split(''));
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: alphabet }),
      fc.string({ unit: alphabet }).map((s) => `postgresql://${s}`),
    );
    fc.assert(
      fc.property(text, (t) => {
        try {
          parseConninfo(t);
        } catch (error) {
          expect(error).toBeInstanceOf(PgvigilError);
          expect((error as PgvigilError).code).toBe('BAD_CONFIG');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
