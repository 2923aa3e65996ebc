import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zipDirectory } from '../../infra/zip.js';

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('zipDirectory', () => {
  it('writes an archive that another zip reader extracts byte for byte, with nested paths', () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const big = Buffer.alloc(200_000, 'pgvigil ');
    writeFileSync(join(src, 'index.mjs'), 'export const handler = async () => 1;\n');
    writeFileSync(join(src, 'sub', 'data.bin'), big);
    writeFileSync(join(dir, 'a.zip'), zipDirectory(src));
    // Python's zipfile is on every machine that runs moto.
    const py = [
      'import sys, zipfile, hashlib',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None',
      'for i in sorted(z.infolist(), key=lambda i: i.filename): print(i.filename, i.file_size, hashlib.sha256(z.read(i)).hexdigest()[:16])',
    ].join('\n');
    const out = spawnSync('python3', ['-c', py, join(dir, 'a.zip')], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    const lines = out.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['index.mjs 38', `sub/data.bin ${big.length}`]);
  });

  it('is reproducible: the same files give the same bytes', () => {
    const src = join(dir, 'same');
    mkdirSync(src);
    writeFileSync(join(src, 'x'), 'x');
    expect(zipDirectory(src).equals(zipDirectory(src))).toBe(true);
  });
});
