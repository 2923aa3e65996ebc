/**
 * `npm run bench:chaos [-- DURATION [SEED [FAULTS]]]`: a long chaos campaign (default 30m, seed 1,
 * every fault type) on a fresh sandbox, printing each fault as it happens, then the summary table,
 * the violations and the failing windows' timelines, and the result as one JSON line. A benchmark,
 * not a test: it prints figures and never asserts (docs/drills.md, "The chaos campaign": the targets).
 * The recorded history is written to `chaos-SEED.json` in the working directory, the sandbox's logs
 * (agents, controller, moto, the AWS proxy) to `chaos-SEED-logs/`.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDuration, parseSeed, printCampaign } from '../cli/commands/sandbox-chaos.js';
import { streamOutput } from '../shell/output.js';
import { runCampaign } from '../sandbox/chaos/campaign.js';
import { parseFaultList } from '../sandbox/chaos/schedule.js';
import { ensureBuilt } from '../build/index.js';
import { Sandbox } from '../sandbox/index.js';
import { freePort } from '../sandbox/ports.js';

const durationMs = parseDuration(process.argv[2] ?? '30m');
const seed = parseSeed(process.argv[3] ?? '1');
const faults = parseFaultList(process.argv[4] ?? 'all');
const say = (line: string): void => void process.stderr.write(`INFO: ${line}\n`);
// The sandbox runs the built agent, controller and Lambda code.
await ensureBuilt(say);
const parent = mkdtempSync(join(tmpdir(), 'pgv-bench-chaos-'));
chmodSync(parent, 0o755);
const sandbox = await Sandbox.up({ dir: join(parent, 'sandbox'), vipPort: await freePort(), progress: say });
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
process.once('SIGTERM', () => abort.abort());
try {
  const result = await runCampaign(sandbox, { seed, durationMs, faults, log: say, signal: abort.signal, historyFile: resolve(`chaos-${seed}.json`) });
  printCampaign(streamOutput(process.stdout, process.stdout, 'INFO'), result);
  process.stdout.write(`${JSON.stringify({ ...result, verdict: { ...result.verdict, windows: undefined } })}\n`);
  process.exitCode = result.ok ? 0 : 1;
} finally {
  rmSync(resolve(`chaos-${seed}-logs`), { recursive: true, force: true });
  cpSync(sandbox.supervisor.logDir, resolve(`chaos-${seed}-logs`), { recursive: true });
  await sandbox.down();
  rmSync(parent, { recursive: true, force: true });
}
