/**
 * `pgvigil sandbox chaos --duration D --seed S --faults a,b,c [--json] [--dir DIR]`: a Jepsen-style
 * campaign on the sandbox (docs/drills.md, "The chaos campaign"). Against the sandbox running in
 * --dir (its `sandbox up` process runs the campaign: it needs that process's supervisor, VIP and
 * controller), or, when none runs there, on a fresh sandbox that it brings up and tears down.
 * Prints a line per fault as it happens and a summary; exit code 11 when an invariant broke, with
 * the seed and the timeline of every failing window.
 */
import { randomInt } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import type { CampaignResult } from '../../sandbox/chaos/campaign.js';
import { FAULT_TYPES } from '../../sandbox/chaos/schedule.js';
import { DEFAULT_SANDBOX_DIR } from '../local-sandbox.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { loadSandbox, sandboxDir } from './sandbox.js';
import type { Output } from '../../shell/output.js';
import { renderTable } from '../render/table.js';

/** Parses `--duration` (or another duration option): `90s`, `10m`, `1h30m`, `2m30s`, or a number of seconds. */
export function parseDuration(text: string, option = 'duration'): number {
  const trimmed = text.trim();
  const plain = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : null;
  const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(trimmed);
  const ms = plain ?? (parts && trimmed !== '' ? (Number(parts[1] ?? 0) * 3600 + Number(parts[2] ?? 0) * 60 + Number(parts[3] ?? 0)) * 1000 : null);
  if (ms === null) throw new PgvigilError('BAD_ARGUMENT', `option --${option} expects a duration such as 90s, 10m or 1h30m, got "${text}"`);
  if (ms < 10_000 || ms > 24 * 3600_000) throw new PgvigilError('BAD_ARGUMENT', `option --${option} must be between 10s and 24h, got "${text}"`);
  return ms;
}

/** Parses `--seed`: an integer in 0..4294967295. */
export function parseSeed(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > 0xffffffff) throw new PgvigilError('BAD_ARGUMENT', `option --seed expects an integer from 0 to 4294967295, got "${text}"`);
  return n;
}

const s = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** The summary a person reads: the table, the violations, the failing windows' timelines. */
export function printCampaign(out: Output, r: CampaignResult): void {
  const f = r.verdict.figures;
  out.print('');
  out.print(`chaos campaign: seed ${r.seed}, ${s(r.elapsed_ms)} of ${s(r.duration_ms)}, ${r.mode} sandbox, lease ${s(r.lease_ms)}`);
  const injected = Object.entries(f.faults_injected).sort(([a], [b]) => a.localeCompare(b));
  out.print('');
  for (const line of renderTable([{ title: 'fault' }, { title: 'injected' }], injected.map(([t, n]) => [t, String(n)]))) out.print(line);
  out.print('');
  const rows: [string, string][] = [
    ['faults injected', String(injected.reduce((n, [, c]) => n + c, 0))],
    ['failovers', `${f.failovers} (${f.promotions} promotions, ${f.switchovers} switchovers)`],
    ['max writable primaries at once', String(f.max_writable_primaries)],
    ['acknowledged writes lost', `${f.acked_writes_lost ?? 'unknown'} of ${f.acked_writes}`],
    ['longest time without a writable primary after a heal', s(f.longest_no_primary_after_heal_ms)],
    ['longest until every node streamed again after a heal', f.longest_streaming_after_heal_ms === null ? 'not within 2 min' : s(f.longest_streaming_after_heal_ms)],
    ['stuck states', String(f.stuck_states)],
    ['fences', String(f.fences)],
    ['needless fences', String(f.needless_fences)],
    ['repairs by the campaign', String(f.repairs)],
  ];
  for (const line of renderTable([{ title: 'figure' }, { title: 'value' }], rows)) out.print(line);
  if (r.aborted) out.warning(`the campaign stopped early: ${r.aborted}`);
  if (r.ok) {
    out.notice(`chaos campaign with seed ${r.seed} passed: no invariant broke`);
    return;
  }
  for (const v of r.verdict.violations) out.error(`${v.window === null ? 'before the first fault' : `fault #${v.window}`}: ${v.kind}: ${v.message}`);
  for (const [index, lines] of Object.entries(r.timelines)) {
    const w = r.verdict.windows.find((x) => String(x.index) === index);
    out.print('');
    out.print(`timeline of fault #${index}${w ? ` (${w.description})` : ''}, from the campaign's start:`);
    for (const line of lines) out.print(`  ${line}`);
  }
  out.error(`chaos campaign with seed ${r.seed} failed: ${r.verdict.violations.length} violation${r.verdict.violations.length === 1 ? '' : 's'}${r.aborted ? ' (stopped early)' : ''}; run it again with --seed ${r.seed}`);
}

export const sandboxChaosCommand = defineCommand({
  words: ['sandbox', 'chaos'],
  summary: 'run a Jepsen-style chaos campaign on the sandbox: random faults from a seed, writes checked after the fact',
  usage: 'sandbox chaos [--duration D] [--seed S] [--faults a,b,c|all] [--once] [--max-hold D] [--json] [--history FILE] [--dir DIR]',
  examples: [
    'pgvigil sandbox chaos --duration 30m --seed 42',
    'pgvigil sandbox chaos --once --max-hold 15s --seed 403',
    'pgvigil sandbox chaos --duration 5m --seed 7 --faults aws-stall,aws-blackhole,sigstop-agent',
    'pgvigil sandbox chaos --duration 10m --seed 1 --faults all --json > chaos.json',
  ],
  notes: [
    `Fault types (docs/drills.md): ${FAULT_TYPES.join(', ')}.`,
    'The same seed plans the same schedule.',
    'Exit code 0 when every invariant held, 11 when one broke (the seed and the failing windows are printed).',
  ],
  options: {
    duration: { type: 'string', description: 'how long to inject faults: 90s, 10m, 1h30m or seconds (default 10m)' },
    seed: { type: 'string', description: 'the schedule\'s seed, 0-4294967295 (default: a random one, printed)' },
    faults: { type: 'string', description: 'comma-separated fault types, or "all" (default all)' },
    once: { type: 'boolean', description: 'each fault type once, in the seed\'s order, then stop (--duration is then a limit)' },
    'max-hold': { type: 'string', description: 'hold no fault longer than this (at least 15 s and lease_secs + 3 s), for a quicker campaign' },
    json: { type: 'boolean', description: 'the result as one JSON object on stdout (live lines go to stderr)' },
    history: { type: 'string', description: 'write the whole recorded history (writes, probes, samples, events) to FILE as JSON' },
    dir: { type: 'string', description: `the running sandbox's directory (default ${DEFAULT_SANDBOX_DIR}, or PGVIGIL_SANDBOX_DIR); without one there, a fresh sandbox is brought up for the campaign` },
  },
  async run(ctx) {
    const { parseFaultList } = await loadSandbox(() => import('../../sandbox/chaos/schedule.js'));
    // Bad arguments fail before anything starts.
    const durationMs = parseDuration(opt.string(ctx, 'duration') ?? '10m');
    const seedText = opt.string(ctx, 'seed');
    const seed = seedText === undefined ? randomInt(0, 0xffffffff) : parseSeed(seedText);
    const faults = parseFaultList(opt.string(ctx, 'faults') ?? 'all');
    const once = opt.flag(ctx, 'once');
    const maxHoldText = opt.string(ctx, 'max-hold');
    const maxHoldMs = maxHoldText === undefined ? undefined : parseDuration(maxHoldText, 'max-hold');
    const limits = { ...(once ? { once: true } : {}), ...(maxHoldMs !== undefined ? { maxHoldMs } : {}) };
    const history = opt.string(ctx, 'history');
    const historyFile = history === undefined ? undefined : resolve(history);
    const json = opt.flag(ctx, 'json');
    const say = (line: string): void => (json ? void process.stderr.write(`INFO: ${line}\n`) : ctx.out.info(line));
    if (seedText === undefined) say(`seed ${seed} (pass --seed ${seed} to plan the same schedule again)`);
    const dir = sandboxDir(ctx);
    const { readSandboxState, Sandbox } = await loadSandbox(() => import('../../sandbox/index.js'));
    const state = readSandboxState(dir);
    let result: CampaignResult | undefined;
    if (state?.ready) {
      const { requestChaos } = await loadSandbox(() => import('../../sandbox/drills/server.js'));
      say(`running the campaign on the sandbox in ${dir}`);
      result = await requestChaos(dir, { seed, durationMs, faults, ...limits, ...(historyFile ? { historyFile } : {}) }, say);
    } else if (state) {
      throw new PgvigilError('CONFLICT', `the sandbox in ${dir} is not ready`, { hint: `wait for "pgvigil sandbox up" to finish, or run "pgvigil sandbox down --dir ${dir}"` });
    } else {
      const { runCampaign } = await loadSandbox(() => import('../../sandbox/chaos/campaign.js'));
      const { freePort } = await loadSandbox(() => import('../../sandbox/ports.js'));
      // A fresh sandbox has the default lease: a bad --max-hold fails before it is brought up.
      if (maxHoldMs !== undefined) {
        const { checkMaxHold } = await loadSandbox(() => import('../../sandbox/chaos/schedule.js'));
        const { SANDBOX_DEFAULTS } = await loadSandbox(() => import('../../sandbox/cluster-plan.js'));
        checkMaxHold(maxHoldMs, Number(SANDBOX_DEFAULTS.lease_secs) * 1000);
      }
      const parent = mkdtempSync(join(tmpdir(), 'pgvigil-chaos-'));
      chmodSync(parent, 0o755); // the agents and PostgreSQL run as postgres
      say(`no sandbox in ${dir}: bringing up a fresh one in ${parent} for the campaign`);
      const sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), progress: say });
      const abort = new AbortController();
      const stop = (): void => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        result = await runCampaign(sandbox, { seed, durationMs, faults, ...limits, log: say, signal: abort.signal, ...(historyFile ? { historyFile } : {}) });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        // The sandbox goes with the campaign; a failed campaign's logs (controller, agents,
        // PostgreSQL) are what explains its violations, so they are kept — copied before the
        // teardown, which removes them.
        if (result === undefined || !result.ok) keepLogs(sandbox.supervisor.logDir, seed, say);
        await sandbox.down();
        rmSync(parent, { recursive: true, force: true });
      }
    }
    if (result === undefined) throw new PgvigilError('INTERNAL', 'the chaos campaign returned no result');
    if (json) ctx.out.print(JSON.stringify(result));
    else printCampaign(ctx.out, result);
    return result.ok ? ExitCode.SUCCESS : ExitCode.ERR_FAILOVER_FAIL;
  },
});

/** Copies a campaign sandbox's logs to a directory of their own that outlives the sandbox. */
function keepLogs(logDir: string, seed: number, say: (line: string) => void): void {
  const kept = mkdtempSync(join(tmpdir(), `pgvigil-chaos-${seed}-logs-`));
  try {
    cpSync(logDir, kept, { recursive: true });
    say(`the sandbox's logs (controller, agents, PostgreSQL) are kept in ${kept}`);
  } catch (error) {
    say(`could not keep the sandbox's logs: ${(error as Error).message}`);
  }
}
