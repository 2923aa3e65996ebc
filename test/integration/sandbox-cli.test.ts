import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runProgram } from '../../shell/framework.js';
import { cliProgram } from '../../cli/main.js';
import { memoryOutput } from '../../shell/output.js';
import { run } from '../../sandbox/netns.js';

const program = cliProgram();

const parent = mkdtempSync(join(tmpdir(), 'pgv-cli-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

async function pgvigil(...argv: string[]) {
  const out = memoryOutput();
  const code = await runProgram(program, argv, out, {});
  return { code, out };
}

describe('pgvigil sandbox', () => {
  it('says there is no sandbox to show, with a hint, and exits 1', async () => {
    const { code, out } = await pgvigil('sandbox', 'status', '--dir', join(parent, 'none'));
    expect(code).toBe(1);
    expect(out.stderr).toEqual([`ERROR: no sandbox in ${join(parent, 'none')}`, 'HINT: start one with "pgvigil sandbox up"']);
  });

  it('refuses an unknown latency profile before creating anything, naming the choices', async () => {
    const dir = join(parent, 'sbx-latency');
    const { code, out } = await pgvigil('sandbox', 'up', '--dir', dir, '--latency', 'fast');
    expect(code).toBe(1);
    expect(out.stderr).toEqual(['ERROR: --latency: unknown latency profile "fast"', 'HINT: choose local or aws']);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a CPU sampling window out of range', async () => {
    const { code, out } = await pgvigil('sandbox', 'status', '--dir', join(parent, 'none'), '--cpu', '0');
    expect(code).toBe(1);
    expect(out.stderr).toEqual(['ERROR: option --cpu expects seconds in 1..600, got 0']);
  });

  it('has nothing to do when asked to remove a sandbox that does not exist', async () => {
    const { code, out } = await pgvigil('sandbox', 'down', '--dir', join(parent, 'none'));
    expect(code).toBe(0);
    expect(out.stderr).toEqual([`NOTICE: no sandbox in ${join(parent, 'none')}; nothing to do`]);
  });

  it('refuses a bad --config override before creating anything, naming the file and line', async () => {
    chmodSync(parent, 0o755);
    const conf = join(parent, 'bad.conf');
    writeFileSync(conf, 'lease_secs=4\nnode_id=9\n');
    const dir = join(parent, 'sbx');
    const before = (await run('ip', ['netns', 'list'])).stdout;
    const { code, out } = await pgvigil('sandbox', 'up', '--dir', dir, '--config', conf, '--no-controller');
    expect(code).toBe(1);
    expect(out.stderr.join('\n')).toContain(`${conf}:2: "node_id": node_id is set per node by the sandbox and cannot be overridden`);
    expect(existsSync(dir)).toBe(false);
    expect((await run('ip', ['netns', 'list'])).stdout).toBe(before);
  });

  it('refuses a directory the PostgreSQL user cannot reach, creating nothing', async () => {
    const closed = mkdtempSync(join(tmpdir(), 'pgv-closed-'));
    try {
      chmodSync(closed, 0o700);
      const { code, out } = await pgvigil('sandbox', 'up', '--dir', join(closed, 'sbx'));
      expect(code).toBe(1);
      expect(out.stderr[0]).toBe(`ERROR: the postgres user cannot reach ${closed}`);
      expect(existsSync(join(closed, 'sbx'))).toBe(false);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it('refuses a VIP port in use before creating anything', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      const { code, out } = await pgvigil('sandbox', 'up', '--dir', join(parent, 'sbx3'), '--vip-port', String(port));
      expect(code).toBe(13);
      expect(out.stderr[0]).toBe(`ERROR: 127.0.0.1:${port} (the VIP) is in use`);
      expect(existsSync(join(parent, 'sbx3'))).toBe(false);
    } finally {
      busy.close();
    }
  });

  it('refuses a VIP port that is not a port', async () => {
    const { code, out } = await pgvigil('sandbox', 'up', '--dir', join(parent, 'sbx2'), '--vip-port', '70000');
    expect(code).toBe(1);
    expect(out.stderr).toEqual(['ERROR: option --vip-port expects a port number, got 70000']);
  });
});
