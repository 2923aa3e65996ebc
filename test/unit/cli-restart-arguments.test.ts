/**
 * `cluster restart` and `node service` refuse bad arguments with a clear error and exit 1 before
 * they read or change anything: the environment here names no AWS at all, so any attempt to reach
 * it would fail differently.
 */
import { describe, expect, it } from 'vitest';
import { cliProgram } from '../../cli/main.js';
import { runProgram } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';

async function run(args: string[]): Promise<{ code: number; stderr: string[] }> {
  const out = memoryOutput();
  const code = await runProgram(cliProgram(), args, out, { PGVIGIL_SANDBOX_DIR: '/nonexistent/pgvigil-sandbox' });
  return { code, stderr: out.stderr };
}

describe('cluster restart arguments', () => {
  it('refuses to run without --rolling, saying why and how', async () => {
    const r = await run(['cluster', 'restart', '--pending']);
    expect(r.code).toBe(1);
    expect(r.stderr).toEqual([
      'ERROR: cluster restart restarts one server at a time and needs --rolling',
      'DETAIL: restarting every server at once would take the primary down with no standby to take over; nothing was restarted',
      'HINT: pgvigil cluster restart --rolling --pending',
    ]);
  });

  it('refuses a wait timeout under one second', async () => {
    const r = await run(['cluster', 'restart', '--rolling', '--wait-timeout', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toBe('ERROR: option --wait-timeout expects seconds (1 or more), got 0');
  });
});

describe('node service arguments', () => {
  it('refuses an unknown action', async () => {
    const r = await run(['node', 'service', '--node-id', '2', '--action', 'bounce']);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toBe('ERROR: option --action expects one of reload, restart, stop, start, got "bounce"');
  });

  it('refuses --checkpoint with an action that stops nothing', async () => {
    const r = await run(['node', 'service', '--node-id', '2', '--action', 'reload', '--checkpoint']);
    expect(r.code).toBe(1);
    expect(r.stderr[0]).toBe('ERROR: --checkpoint goes with --action stop or restart, not reload');
  });

  it('refuses a missing --action and a node id that is not one', async () => {
    expect((await run(['node', 'service', '--node-id', '2'])).code).toBe(1);
    const bad = await run(['node', 'service', '--node-id', '0', '--action', 'restart']);
    expect(bad.code).toBe(1);
    expect(bad.stderr[0]).toBe('ERROR: option --node-id expects a node id (a positive integer), got 0');
  });
});

describe('relayAgentOutput', () => {
  it("prints the agent's lines at their own level and anything else as DETAIL", async () => {
    const { relayAgentOutput } = await import('../../cli/host-commands.js');
    const out = memoryOutput();
    relayAgentOutput(out, 'NOTICE: node service --action restart completed\nWARNING: slow\n\nwaiting for server to shut down.... done\nHINT: see the log\n');
    expect(out.stderr).toEqual(['NOTICE: node service --action restart completed', 'WARNING: slow', 'DETAIL: waiting for server to shut down.... done', 'HINT: see the log']);
  });
});
