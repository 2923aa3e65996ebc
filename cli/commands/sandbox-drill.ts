/**
 * `pgvigil sandbox drill --scenario NAME [--json]` (docs/sandbox.md): runs one failure drill and
 * prints what happened and its figures. Against the sandbox running in --dir (its `sandbox up`
 * process runs the drill, since the drill needs that process's supervisor, VIP and controller), or,
 * when none runs there, on a fresh sandbox that it brings up and tears down again.
 */
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import { DEFAULT_SANDBOX_DIR } from '../local-sandbox.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { loadSandbox, sandboxDir } from './sandbox.js';
import type { Output } from '../../shell/output.js';
import type { DrillResult } from '../../sandbox/drills/scenario.js';
import { DRILL_NAMES } from '../../sandbox/drills/names.js';


const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v} ms`);

/** The human-readable account of one drill. */
export function printDrill(out: Output, r: DrillResult): void {
  out.info(`scenario ${r.scenario}: old primary ${r.old_primary}, primary now ${r.new_primary} (term ${r.term_before} → ${r.term_after})`);
  out.detail(`failover expected: ${r.failover_expected ? 'yes' : 'no'}; happened: ${r.failover_happened ? 'yes' : 'no'}`);
  const t = r.timings_ms;
  const steps: [string, number | null | undefined][] = [
    ['detected', t.detected],
    ['saga claimed', t.saga_claimed],
    ['old primary fenced', t.fenced],
    ['promoted', t.promoted],
    ['VIP moved', t.vip_moved],
    ['first write via VIP', t.first_write_via_vip],
    ...(t.rejoined !== undefined ? ([['old primary rejoined', t.rejoined]] as [string, number | null][]) : []),
    ...(t.controller_killed !== undefined ? ([['controller killed', t.controller_killed], ['controller restarted', t.controller_restarted]] as [string, number | null | undefined][]) : []),
  ];
  for (const [label, v] of steps) out.print(`  ${label.padEnd(22)} ${ms(v)} after the fault`);
  out.print(`  write outage (VIP)     ${r.write_outage_ms} ms`);
  out.print(`  acknowledged writes    ${r.acked_writes} via the VIP, ${r.direct_acked_writes} direct; lost: ${r.acked_writes_lost ?? '?'} + ${r.direct_acked_writes_lost ?? '?'}`);
  if (r.route_acked_writes !== null) out.print(`  writer route           ${r.route_acked_writes} acknowledged, lost ${r.route_acked_writes_lost ?? '?'}; write outage ${ms(r.route_write_outage_ms)}`);
  out.print(`  writable primaries     at most ${r.max_writable_primaries} at once`);
  out.print(`  old primary            ${r.old_primary_state}; VIP on ${r.vip_target ?? 'nothing'}`);
  for (const n of r.notifications ?? []) out.print(`  SNS ${ms(n.at_ms).padStart(18)} after the fault: alarm ${n.alarm} ${n.from} → ${n.to}`);
  for (const note of r.notes) out.detail(note);
  if (r.ok) out.notice(`drill ${r.scenario} passed`);
  else for (const p of r.problems) out.error(`drill ${r.scenario}: ${p}`);
}

export const sandboxDrillCommand = defineCommand({
  words: ['sandbox', 'drill'],
  summary: 'run a failure drill (crash, kill host, partitions, stop agent, kill controller, switchover, rejoin, flapping, AWS cut off) and print its figures',
  usage: 'sandbox drill --scenario NAME [--json] [--dir DIR]',
  examples: ['pgvigil sandbox drill --scenario crash-primary', 'pgvigil sandbox drill --scenario partition-primary --json'],
  options: {
    scenario: { type: 'string', description: `${DRILL_NAMES.slice(0, -1).join(', ')} or ${DRILL_NAMES[DRILL_NAMES.length - 1]}` },
    json: { type: 'boolean', description: 'one JSON object' },
    dir: { type: 'string', description: `the running sandbox's directory (default ${DEFAULT_SANDBOX_DIR}, or PGVIGIL_SANDBOX_DIR); without one there, a fresh sandbox is brought up for the drill` },
  },
  async run(ctx) {
    const name = opt.requiredString(ctx, 'scenario');
    const { scenario, runDrill } = await loadSandbox(() => import('../../sandbox/drills/index.js'));
    const chosen = scenario(name); // a bad name fails before anything starts
    const json = opt.flag(ctx, 'json');
    const dir = sandboxDir(ctx);
    const { readSandboxState, Sandbox } = await loadSandbox(() => import('../../sandbox/index.js'));
    const { requestDrill } = await loadSandbox(() => import('../../sandbox/drills/server.js'));
    const { freePort } = await loadSandbox(() => import('../../sandbox/ports.js'));
    const state = readSandboxState(dir);
    let result: DrillResult;
    if (state?.ready) {
      if (!json) ctx.out.info(`running drill ${chosen.name} on the sandbox in ${dir}`);
      result = await requestDrill(dir, chosen.name);
    } else if (state) {
      throw new PgvigilError('CONFLICT', `the sandbox in ${dir} is not ready`, { hint: `wait for "pgvigil sandbox up" to finish, or run "pgvigil sandbox down --dir ${dir}"` });
    } else {
      const parent = mkdtempSync(join(tmpdir(), 'pgvigil-drill-'));
      chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
      const say = (line: string): void => (json ? void process.stderr.write(`INFO: ${line}\n`) : ctx.out.info(line));
      say(`no sandbox in ${dir}: bringing up a fresh one in ${parent} for the drill`);
      const sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), progress: say });
      try {
        result = await runDrill(sandbox, chosen, { log: say });
      } finally {
        await sandbox.down();
        rmSync(parent, { recursive: true, force: true });
      }
    }
    if (json) ctx.out.print(JSON.stringify(result));
    else printDrill(ctx.out, result);
    return result.ok ? ExitCode.SUCCESS : ExitCode.ERR_FAILOVER_FAIL;
  },
});
