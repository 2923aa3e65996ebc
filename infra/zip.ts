/**
 * A minimal ZIP writer (deflate, no extras) for packaging CDK file assets the way the CDK CLI does,
 * so {@link deployToEmulator} needs neither the `zip` program nor an extra npm package; the build
 * writes the host package with it too (build/host-package.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

/** One file of an archive: its path inside, its bytes, and whether it is executable. */
export interface ZipEntry {
  name: string;
  data: Buffer;
  executable?: boolean;
}

/** Zips every regular file under `dir` (paths relative to it, sorted, fixed timestamps: reproducible). */
export function zipDirectory(dir: string): Buffer {
  return zipEntries(
    listFiles(dir).map((file) => ({
      name: relative(dir, file).split(sep).join('/'),
      data: readFileSync(file),
      executable: (statSync(file).mode & 0o111) !== 0,
    })),
  );
}

/** Zips `entries` (sorted by name, fixed timestamps: the same entries give the same bytes). */
export function zipEntries(entries: readonly ZipEntry[]): Buffer {
  const files = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  // 1980-01-01 00:00, the DOS epoch: the archive does not depend on file times.
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const data = file.data;
    const compressed = deflateRawSync(data);
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: Unix, 3.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((((file.executable ? 0o100755 : 0o100644) << 16) >>> 0), 38); // external attributes: -rwxr-xr-x or -rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) return listFiles(path);
    return st.isFile() ? [path] : [];
  });
}
