/**
 * The host package (dist/pgvigil-host.zip): everything a database host or witness runs, in one
 * self-contained archive to unpack as /opt/pgvigil. No node_modules and no npm: the bundles carry
 * their dependencies, and Node.js comes from the distribution's packages. Inside:
 *
 *   dist/pgvigil-agent.mjs                 the agent (the systemd unit's ExecStart runs it)
 *   dist/pgvigil.cjs                       the `pgvigil` command (help and version; it imports
 *                                          dist/pgvigil.mjs for anything else)
 *   dist/pgvigil.mjs, dist/chunks/…        the CLI
 *   deploy/systemd/pgvigil-agent.service   the unit, to copy to /etc/systemd/system/
 *   deploy/systemd/postgresql.service.d/…  the boot guard, a drop-in for PostgreSQL's own unit
 *   package.json                           name and version (and how the bundles find their root)
 *
 * The bundles are executable with a `#!/usr/bin/env node` line, so /usr/local/bin/pgvigil-agent
 * and /usr/local/bin/pgvigil can be symbolic links to them (the SSM documents run `pgvigil-agent`;
 * `pgvigil` links to dist/pgvigil.cjs, whose help loads no ES module: docs/cli.md, "Start-up").
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipEntries, type ZipEntry } from '../infra/zip.js';
import { ARTIFACTS } from './artifacts.js';

/** The unit file the package carries, at the same path as in the repository. */
export const SYSTEMD_UNIT = 'deploy/systemd/pgvigil-agent.service';

/**
 * The drop-in that runs `node startup` before PostgreSQL starts (docs/agent.md, "The boot guard"),
 * to copy to /etc/systemd/system/postgresql.service.d/.
 */
export const POSTGRESQL_DROP_IN = 'deploy/systemd/postgresql.service.d/pgvigil-startup.conf';

export function hostPackageEntries(root: string): ZipEntry[] {
  const file = (name: string, executable = false): ZipEntry => ({ name, data: readFileSync(join(root, name)), executable });
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; license?: string; engines?: unknown };
  const chunks = readdirSync(join(root, ARTIFACTS.cliChunks)).sort().map((c) => file(`${ARTIFACTS.cliChunks}/${c}`));
  return [
    file(ARTIFACTS.agent, true),
    file(ARTIFACTS.cli, true),
    file(ARTIFACTS.cliCommand, true),
    ...chunks,
    file(SYSTEMD_UNIT),
    file(POSTGRESQL_DROP_IN),
    {
      name: 'package.json',
      data: Buffer.from(`${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license, type: 'module', private: true, engines: pkg.engines }, null, 2)}\n`),
    },
  ];
}

/** Writes the host package from the bundles already in dist/. */
export function buildHostPackage(root: string): { bytes: number } {
  const zip = zipEntries(hostPackageEntries(root));
  writeFileSync(join(root, ARTIFACTS.hostPackage), zip);
  return { bytes: zip.length };
}
