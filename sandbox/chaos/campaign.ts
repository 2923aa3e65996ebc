/**
 * `pgvigil sandbox chaos`: a Jepsen-style campaign on a running sandbox (docs/drills.md, "The chaos
 * campaign"). It heals the sandbox to a healthy three-node cluster, starts the recorders (a writer
 * through the Elastic IP, a writability probe on every node, samples of the VIP, the cluster record
 * and every node's view of itself), then takes the seeded schedule fault by fault: a quiet gap,
 * the injection, the hold, the heal, and a wait of at most two minutes for the cluster to recover
 * by itself. A cluster that did not recover is repaired as an operator would (the drills' heal:
 * rejoin what pgvigil left behind) and the campaign goes on. At the end the checkers judge the
 * whole history (sandbox/chaos/checkers.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PgvigilError } from '../../core/errors.js';
import { SANDBOX_DEFAULTS } from '../cluster-plan.js';
import { CONTROLLER_PROCESS } from '../controller.js';
import { heal, socketTarget } from '../drills/heal.js';
import type { Sandbox } from '../index.js';
import { ROOT_HOST } from '../netns.js';
import { ackedWritesLost } from '../writers.js';
import { allStreaming, checkHistory, windowTimeline, type CampaignHistory, type InjectedFault, type LoggedEvent, type Verdict } from './checkers.js';
import { inject, type ActiveFault, type InjectContext } from './faults.js';
import { LinkFaults, haveIptables } from './link-faults.js';
import { seededRandom } from './random.js';
import { CampaignRecorder } from './recorder.js';
import { FAULTS, planSchedule, type FaultType } from './schedule.js';

export interface CampaignOptions {
  seed: number;
  durationMs: number;
  faults: readonly FaultType[];
  /** A line per fault as it happens. */
  log?: (line: string) => void;
  /** How long the cluster has to recover by itself after a heal. @default 120000 */
  recoveryMs?: number;
  /** Where to write the whole recorded history (JSON), if anywhere. */
  historyFile?: string;
  /** Stops the campaign early (the faults in place are healed, the history judged). */
  signal?: AbortSignal;
  /** Each fault type once, then stop (`--once`): the duration is only a limit. */
  once?: boolean;
  /** Hold no fault longer than this (`--max-hold`). */
  maxHoldMs?: number;
}

export interface CampaignResult {
  ok: boolean;
  seed: number;
  duration_ms: number;
  elapsed_ms: number;
  faults_requested: FaultType[];
  mode: 'netns' | 'loopback';
  lease_ms: number;
  verdict: Verdict;
  /** Fault index → what happened in its window, for every window with a violation. */
  timelines: Record<string, string[]>;
  /** Why the campaign stopped before its end, if it did. */
  aborted: string | null;
  history_file: string | null;
}

/** The cluster's lease_secs in milliseconds (the sandbox default unless overridden). */
export function leaseMsOf(sandbox: Sandbox): number {
  return Number(sandbox.plan.overrides.lease_secs ?? SANDBOX_DEFAULTS.lease_secs) * 1000;
}

/** Refuses, before anything runs, fault types this sandbox or machine cannot inject. */
export async function checkFaultsRunnable(sandbox: Sandbox, faults: readonly FaultType[]): Promise<void> {
  const netns = faults.filter((f) => FAULTS[f].needsNetns);
  if (netns.length > 0 && sandbox.network.mode !== 'netns') {
    throw new PgvigilError('BAD_ARGUMENT', `fault types ${netns.join(', ')} need network namespaces (a sandbox run as root); this sandbox runs on loopback ports`, {
      hint: 'leave them out of --faults, or run the sandbox as root',
    });
  }
  if ((faults.includes('packet-loss') || faults.includes('packet-delay')) && !(await haveIptables())) {
    throw new PgvigilError('BAD_ARGUMENT', 'fault types packet-loss and packet-delay need iptables, which is not installed', { hint: 'apt-get install iptables, or leave them out of --faults' });
  }
  if (!sandbox.awsProxy && faults.some((f) => f.startsWith('aws-') && f !== 'aws-stall')) {
    throw new PgvigilError('BAD_ARGUMENT', 'this sandbox has no AWS proxy: aws-latency, aws-errors and aws-blackhole cannot be injected', { hint: 'bring the sandbox up again with this pgvigil' });
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Puts back everything a fault may have left (the last resort after an error or an abort). */
async function resetFaults(sandbox: Sandbox, links: LinkFaults): Promise<void> {
  await links.clearAll().catch(() => undefined);
  await sandbox.awsProxy?.clear().catch(() => undefined);
  for (const [host, name] of [[ROOT_HOST, 'moto'], [ROOT_HOST, CONTROLLER_PROCESS], ...sandbox.plan.nodes.map((n) => [n.node_name, 'agent'])] as const) {
    try {
      sandbox.supervisor.signal(host, name, 'SIGCONT');
    } catch {
      // not supervised
    }
  }
  for (const n of sandbox.plan.nodes) if (sandbox.network.mode === 'netns' && sandbox.network.isCut(n.node_name)) await sandbox.network.restore(n.node_name).catch(() => undefined);
}

/** Runs a campaign on a running sandbox and judges it. */
export async function runCampaign(sandbox: Sandbox, options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => undefined);
  const recoveryMs = options.recoveryMs ?? 120_000;
  const leaseMs = leaseMsOf(sandbox);
  await checkFaultsRunnable(sandbox, options.faults);
  const plan = planSchedule({
    seed: options.seed,
    durationMs: options.durationMs,
    faults: options.faults,
    leaseMs,
    ...(options.once ? { once: true } : {}),
    ...(options.maxHoldMs !== undefined ? { maxHoldMs: options.maxHoldMs } : {}),
  });
  const links = new LinkFaults(sandbox.network);
  const limits = [options.once ? 'each fault once' : '', options.maxHoldMs !== undefined ? `holds at most ${sec(options.maxHoldMs)}` : ''].filter(Boolean);
  log(`seed ${options.seed}, ${sec(options.durationMs)}${options.once ? ' at most' : ''}${limits.length ? ` (${limits.join(', ')})` : ''}, faults: ${options.faults.join(', ')}`);
  log('healing the sandbox to a healthy three-node cluster first');
  for (const line of await heal(sandbox, log)) log(`heal: ${line}`);

  const recorder = new CampaignRecorder(sandbox, `chaos-${options.seed}-${Date.now().toString(36)}`);
  await recorder.start();
  const warmup = Date.now() + 30_000;
  while (recorder.writer.acked().length < 10 && Date.now() < warmup) await pause(100);
  if (recorder.writer.acked().length === 0) {
    await recorder.stop();
    throw new PgvigilError('SYS_FAILURE', 'chaos: no write through the VIP was acknowledged before the first fault');
  }
  const startedAt = Date.now();
  const rel = (t = Date.now()): string => `[+${sec(t - startedAt)}]`;
  const injected: InjectedFault[] = [];
  const nodes = sandbox.plan.nodes.filter((n) => n.postgres).map((n) => n.node_name);
  let current: ActiveFault | null = null;
  let aborted: string | null = null;

  const healthySince = (from: number): boolean => {
    const sample = recorder.lastNodes;
    const acked = recorder.writer.attempts.some((a) => a.ackedAt !== null && a.ackedAt >= from);
    return acked && sample !== undefined && sample.at >= from && allStreaming(sample, nodes, recorder.vipNode());
  };
  /** Healthy right now: a recent write through the VIP, every node streaming, no operation running. */
  const healthyNow = (): boolean => healthySince(Date.now() - 3000) && !recorder.lastCluster?.operation;
  const describeState = (): string => {
    const c = recorder.lastCluster;
    const views = recorder.lastNodes;
    return `primary ${c?.primary ?? '-'}, operation ${c?.operation ?? 'none'}${c?.paused ? ', paused' : ''}; ${nodes.map((n) => `${n} ${views?.nodes[n] ?? '?'}`).join(', ')}`;
  };
  /** Waits for the cluster to recover by itself (bounded), else repairs it as an operator would; false when it cannot be. */
  const recoverOrRepair = async (record: InjectedFault | undefined, since: number, what: string): Promise<boolean> => {
    const deadline = since + recoveryMs + 5000;
    while (!healthyNow() && Date.now() < deadline && !options.signal?.aborted) await pause(250);
    if (healthyNow() || options.signal?.aborted) return true;
    const index = record ? `#${record.planned.index}` : 'before the first fault';
    log(`${rel()} ${index} NOT recovered ${sec(Date.now() - since)} after ${what} (${describeState()}): repairing it as an operator would`);
    if (record) record.repairedAt ??= Date.now();
    try {
      const done = await heal(sandbox, (l) => log(`${rel()} ${index}   repair: ${l.replace(/^heal: /, '')}`));
      record?.notes.push(`repaired by the campaign: ${done.join('; ') || 'nothing to do'}`);
      log(`${rel()} ${index}   repaired: ${done.join('; ') || 'nothing to do'}`);
      return true;
    } catch (error) {
      const e = error as PgvigilError;
      aborted = `the cluster could not be repaired after ${index}: ${e.message}${e.detail ? ` (${e.detail})` : ''}`;
      record?.notes.push(aborted);
      log(`${rel()} ${aborted}`);
      return false;
    }
  };

  try {
    for (const planned of plan) {
      if (options.signal?.aborted) {
        aborted = 'interrupted';
        break;
      }
      if (Date.now() - startedAt + planned.gapMs + planned.holdMs > options.durationMs) {
        if (options.once) log(`${rel()} the ${sec(options.durationMs)} limit leaves no room for #${planned.index} (${planned.type}): stopping`);
        break;
      }
      await pause(planned.gapMs, options.signal);
      // Every fault starts on a healthy cluster: one that broke in the gap, with nothing injected,
      // gets the same chance to recover (and is judged in the previous window).
      if (!healthyNow()) {
        const previous = injected[injected.length - 1];
        log(`${rel()} not healthy before #${planned.index} (${describeState()}): waiting for it to recover first`);
        if (!(await recoverOrRepair(previous, Date.now(), 'the gap'))) break;
        await pause(3000, options.signal);
      }
      if (options.signal?.aborted) {
        aborted = 'interrupted';
        break;
      }
      const ctx: InjectContext = { sandbox, recorder, links, rng: seededRandom((options.seed + Math.imul(planned.index, 0x9e3779b1)) >>> 0), leaseMs, log: (l) => log(`${rel()} #${planned.index} ${l}`) };
      const injectedAt = Date.now();
      const previous = injected[injected.length - 1];
      if (previous) previous.windowEnd = injectedAt;
      const notes: string[] = [];
      const record: InjectedFault = { planned, description: planned.type, targets: [], injectedAt, healedAt: null, windowEnd: injectedAt, justifies: null, blocksController: false, notes };
      injected.push(record);
      try {
        current = await inject(ctx, planned, notes);
      } catch (error) {
        record.healedAt = Date.now();
        notes.push(`could not inject: ${(error as Error).message}`);
        log(`${rel()} #${planned.index} ${planned.type}: could not inject: ${(error as Error).message}`);
        continue;
      }
      Object.assign(record, { description: current.description, targets: current.targets, justifies: current.justifies, blocksController: current.blocksController });
      log(`${rel(injectedAt)} #${planned.index} ${current.description}`);
      await pause(planned.holdMs, options.signal);
      if (current.busy) await Promise.race([current.busy, pause(180_000, options.signal)]);
      await current.heal();
      current = null;
      record.healedAt = Date.now();
      for (const note of notes) log(`${rel()} #${planned.index}   ${note}`);
      // Recovery: by itself within the bound, or repaired by the campaign (an operator).
      const healedAt = record.healedAt;
      while (!healthySince(healedAt) && Date.now() < healedAt + recoveryMs + 5000 && !options.signal?.aborted) await pause(250);
      if (healthySince(healedAt)) {
        const firstAck = recorder.writer.attempts.find((a) => a.ackedAt !== null && a.ackedAt >= healedAt)?.ackedAt ?? healedAt;
        log(`${rel()} #${planned.index} healed; writable ${sec(firstAck - healedAt)} after the heal, every node streaming after ${sec(Date.now() - healedAt)}`);
        continue;
      }
      if (options.signal?.aborted) {
        aborted = 'interrupted';
        break;
      }
      if (!(await recoverOrRepair(record, healedAt, 'the heal'))) break;
    }
  } catch (error) {
    aborted = `the campaign failed: ${(error as Error).message}`;
    log(`${rel()} ${aborted}`);
  } finally {
    if (current) {
      const last = injected[injected.length - 1];
      await current.heal().catch((error: unknown) => void last?.notes.push(`heal failed: ${(error as Error).message}`));
      if (last && last.healedAt === null) last.healedAt = Date.now();
    }
    await resetFaults(sandbox, links);
  }
  await pause(1000);
  const endedAt = Date.now();
  const last = injected[injected.length - 1];
  if (last) last.windowEnd = endedAt;
  await recorder.stop();

  const names = new Map(sandbox.plan.nodes.map((n) => [n.node_id, n.node_name]));
  let events: LoggedEvent[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      events = (await recorder.store.listEvents(sandbox.state.clusterId, { sinceMs: startedAt - 1000 }))
        .filter((e) => e.timestamp >= startedAt - 1000)
        .map((e) => ({ at: e.timestamp, node: names.get(e.node_id) ?? String(e.node_id), event: e.event, successful: e.successful, details: e.details }));
      break;
    } catch {
      await pause(2000);
    }
  }
  let lostWrites: number[] | null = null;
  let lostWritesError: string | undefined;
  const primary = recorder.lastCluster?.primary;
  if (!primary) lostWritesError = 'the cluster record names no primary at the end';
  else {
    try {
      lostWrites = await ackedWritesLost(socketTarget(sandbox.node(primary)), recorder.writerName, recorder.writer.acked());
    } catch (error) {
      lostWritesError = `cannot read the writes on ${primary}: ${(error as Error).message}`;
    }
  }
  const history: CampaignHistory = {
    seed: options.seed,
    startedAt,
    endedAt,
    leaseMs,
    ...(recorder.operationWindowMs !== undefined ? { operationWindowMs: recorder.operationWindowMs } : {}),
    nodes,
    faults: injected,
    writes: recorder.writer.attempts,
    probes: recorder.probe.acks,
    cluster: recorder.cluster,
    vip: recorder.vip,
    nodeSamples: recorder.nodeSamples,
    events,
    lostWrites,
    ...(lostWritesError ? { lostWritesError } : {}),
  };
  const verdict = checkHistory(history);
  const timelines: Record<string, string[]> = {};
  for (const index of new Set(verdict.violations.map((v) => v.window).filter((w): w is number => w !== null))) timelines[String(index)] = windowTimeline(history, index);
  if (options.historyFile) {
    mkdirSync(dirname(options.historyFile), { recursive: true });
    writeFileSync(options.historyFile, JSON.stringify(history));
  }
  return {
    ok: verdict.ok && aborted === null,
    seed: options.seed,
    duration_ms: options.durationMs,
    elapsed_ms: endedAt - startedAt,
    faults_requested: [...options.faults],
    mode: sandbox.network.mode,
    lease_ms: leaseMs,
    verdict,
    timelines,
    aborted,
    history_file: options.historyFile ?? null,
  };
}
