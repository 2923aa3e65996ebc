/**
 * The chaos campaign's faults and their schedule (docs/drills.md, "The chaos campaign"). Pure: the
 * same seed, duration, fault list and lease always give the same schedule — which faults, in which
 * order, on which role, held how long, with which parameters, and the quiet gaps between them.
 * Where the faults land (which node is the primary when one is injected) is decided at run time.
 */
import { PgvigilError } from '../../core/errors.js';
import { SCENARIO_NAMES } from '../drills/names.js';
import { seededRandom, type Random } from './random.js';

export const FAULT_TYPES = [
  // The nine drills' faults, then stress.
  ...SCENARIO_NAMES,
  'cpu-starvation',
  'aws-stall',
  'aws-latency',
  'aws-errors',
  'aws-blackhole',
  'sigstop-postgres',
  'sigstop-agent',
  'sigstop-controller',
  'packet-loss',
  'packet-delay',
  'switchover-during-fault',
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** A host by its role when the fault is injected. */
export type Role = 'primary' | 'standby' | 'witness';
/** Whose route to AWS a control-plane fault is on. */
export type AwsScope = 'all' | 'controller' | Role;

export interface FaultParams {
  /** The host the fault is on. */
  role?: Role;
  /** aws-latency, aws-errors, aws-blackhole. */
  scope?: AwsScope;
  latencyMs?: number;
  jitterMs?: number;
  errorRate?: number;
  throttleRate?: number;
  /** packet-loss: per direction. */
  lossPercent?: number;
  /** packet-delay: per direction. */
  delayMs?: number;
  /** switchover-during-fault: the fault the switchover runs under. */
  base?: PlannedFault;
  /** switchover-during-fault: the switchover starts this long after the base fault. */
  switchoverAfterMs?: number;
}

export interface PlannedFault {
  /** 1, 2, 3 … in campaign order. */
  index: number;
  type: FaultType;
  /** Quiet time before the injection (after the previous fault's recovery). */
  gapMs: number;
  /** How long the fault is held before it is healed. */
  holdMs: number;
  params: FaultParams;
}

export interface FaultInfo {
  summary: string;
  /** Needs network namespaces (a sandbox run as root). */
  needsNetns?: boolean;
}

/** What each fault does (the CLI's help and the docs' table). */
export const FAULTS: Record<FaultType, FaultInfo> = {
  'crash-primary': { summary: "kill -9 of the primary's postmaster; healed by starting it again (as systemd would)" },
  'kill-primary-host': { summary: "every process of the primary's host dies and its network goes down; healed by starting the host again (instance, PostgreSQL, agent)" },
  'partition-primary': { summary: "the primary's link is cut; healed by restoring it", needsNetns: true },
  'partition-witness': { summary: "the witness's link is cut; healed by restoring it", needsNetns: true },
  'stop-agent': { summary: "the primary's agent is killed and kept down; healed by starting it" },
  'kill-controller-mid-saga': { summary: "the primary's postmaster is killed and the controller process is killed as soon as it claims the failover; the sandbox starts a new controller" },
  switchover: { summary: 'a planned switchover to a standby (the switchover function, as `pgvigil standby switchover --siblings-follow`)' },
  rejoin: { summary: "the primary's postmaster is killed; healed by an operator's `node rejoin --force-rewind` of the old primary" },
  flapping: { summary: "the primary's link is cut 5 times for 800 ms, 1.5 s apart", needsNetns: true },
  'cpu-starvation': { summary: 'a busy loop on every core; ended by pid' },
  'aws-stall': { summary: 'the AWS emulator stopped (SIGSTOP), then resumed (SIGCONT)' },
  'aws-latency': { summary: "latency on the way to AWS (the AWS proxy): for every host, for one host, or for the controller" },
  'aws-errors': { summary: "5xx and throttling answers (DynamoDB's ProvisionedThroughputExceededException / ThrottlingException, …) from the AWS proxy, for all, one host or the controller" },
  'aws-blackhole': { summary: 'AWS unreachable (requests held unanswered) for all, one host or the controller' },
  'sigstop-postgres': { summary: "a node's PostgreSQL server (the postmaster and every backend) frozen with SIGSTOP, then SIGCONT" },
  'sigstop-agent': { summary: "a node's agent frozen with SIGSTOP, then SIGCONT" },
  'sigstop-controller': { summary: 'the controller process frozen with SIGSTOP, then SIGCONT' },
  'packet-loss': { summary: "packet loss on one host's link (nftables, both directions)", needsNetns: true },
  'packet-delay': { summary: "packet delay on one host's link (nftables queue + a delaying reader, both directions)", needsNetns: true },
  'switchover-during-fault': { summary: 'a planned switchover started while a milder fault (latency, errors, CPU, lossy link, frozen standby agent …) is held' },
};

/** Faults under which a switchover is started (switchover-during-fault). */
const SWITCHOVER_BASES: FaultType[] = ['aws-latency', 'aws-errors', 'cpu-starvation', 'packet-delay', 'packet-loss', 'partition-witness', 'sigstop-agent', 'sigstop-controller'];

/** Parses `--faults`: `all`, or a comma-separated list of fault types (a clear error names the valid ones). */
export function parseFaultList(text: string): FaultType[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new PgvigilError('BAD_ARGUMENT', 'option --faults needs at least one fault type', { hint: `choose from: all, ${FAULT_TYPES.join(', ')}` });
  if (names.length === 1 && names[0] === 'all') return [...FAULT_TYPES];
  const unknown = names.filter((n) => !(FAULT_TYPES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new PgvigilError('BAD_ARGUMENT', `unknown fault type${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} in --faults`, {
      hint: `valid fault types: ${FAULT_TYPES.join(', ')} (or "all")`,
    });
  }
  return [...new Set(names)] as FaultType[];
}

export interface ScheduleOptions {
  seed: number;
  /** The campaign's length: enough faults are planned to fill it. */
  durationMs: number;
  faults: readonly FaultType[];
  /** The cluster's lease_secs in ms: hold times are drawn clearly below or clearly above it. */
  leaseMs: number;
  /** Every chosen fault once, in the seed's order, and no more: the duration is then only a limit. */
  once?: boolean;
  /** No fault is held longer than this (checked by {@link checkMaxHold}); the draws stay the same. */
  maxHoldMs?: number;
}

/**
 * The shortest `--max-hold`: a long hold must stay clearly above the lease (a fence then has its
 * cause), and a switchover needs 15 s under its fault.
 */
export function minMaxHoldMs(leaseMs: number): number {
  return Math.max(15 * SECOND, leaseMs + 3 * SECOND);
}

/** Throws a clear error when a hold cap would blur the schedule's short/long rule. */
export function checkMaxHold(maxHoldMs: number, leaseMs: number): void {
  const min = minMaxHoldMs(leaseMs);
  if (maxHoldMs < min) {
    throw new PgvigilError('BAD_ARGUMENT', `option --max-hold must be at least ${min / SECOND} s with lease_secs=${leaseMs / SECOND}, got ${maxHoldMs / SECOND} s`, {
      hint: 'a long hold must stay clearly above the lease, and a switchover needs 15 s under its fault',
    });
  }
}

const SECOND = 1000;

/**
 * A hold clearly shorter than the lease (nothing should fence) or clearly longer (a fence is
 * justified): never in between, so a verdict on the fences never rests on a borderline case.
 */
function shortOrLong(r: Random, leaseMs: number, longMaxMs: number): number {
  const shortMax = Math.max(SECOND, leaseMs - 1500);
  return r.chance(0.4) ? r.int(SECOND, shortMax) : r.int(leaseMs + 2 * SECOND, Math.max(leaseMs + 3 * SECOND, longMaxMs));
}

function draw(r: Random, type: FaultType, index: number, gapMs: number, leaseMs: number): PlannedFault {
  const f = (holdMs: number, params: FaultParams = {}): PlannedFault => ({ index, type, gapMs, holdMs, params });
  const hostRole = (): Role => r.pick<Role>(['primary', 'primary', 'standby', 'witness']);
  const scope = (): AwsScope => r.pick<AwsScope>(['all', 'all', 'primary', 'primary', 'standby', 'witness', 'controller']);
  switch (type) {
    case 'crash-primary':
    case 'rejoin':
      return f(r.int(5, 20) * SECOND, { role: 'primary' });
    case 'kill-controller-mid-saga':
      return f(r.int(8, 20) * SECOND, { role: 'primary' });
    case 'kill-primary-host':
      return f(r.int(10, 30) * SECOND, { role: 'primary' });
    case 'partition-primary':
      return f(r.int(8, 30) * SECOND, { role: 'primary' });
    case 'partition-witness':
      return f(r.int(8, 20) * SECOND, { role: 'witness' });
    case 'stop-agent':
      return f(r.int(5, 20) * SECOND, { role: 'primary' });
    case 'switchover':
      return f(0);
    case 'flapping':
      return f(5 * 800 + 4 * 1500, { role: 'primary' });
    case 'cpu-starvation':
      return f(r.int(15, 60) * SECOND);
    case 'aws-stall':
      return f(shortOrLong(r, leaseMs, 20 * SECOND));
    case 'aws-latency':
      return f(r.int(10, 40) * SECOND, { scope: scope(), latencyMs: r.int(1, 10) * 100, jitterMs: r.int(0, 3) * 100 });
    case 'aws-errors': {
      // Together at most half of the requests: a retry within the lease still gets through.
      const errors = r.int(1, 3);
      return f(r.int(10, 40) * SECOND, { scope: scope(), errorRate: errors / 10, throttleRate: r.int(1, 5 - errors) / 10 });
    }
    case 'aws-blackhole':
      return f(shortOrLong(r, leaseMs, 25 * SECOND), { scope: scope() });
    case 'sigstop-postgres':
      return f(r.int(6, 20) * SECOND, { role: r.chance(0.7) ? 'primary' : 'standby' });
    case 'sigstop-agent':
      return f(shortOrLong(r, leaseMs, 15 * SECOND), { role: hostRole() });
    case 'sigstop-controller':
      return f(r.int(5, 30) * SECOND);
    case 'packet-loss':
      return f(r.int(15, 40) * SECOND, { role: hostRole(), lossPercent: r.int(2, 15) });
    case 'packet-delay':
      return f(r.int(15, 40) * SECOND, { role: hostRole(), delayMs: r.int(2, 20) * 10 });
    case 'switchover-during-fault': {
      let base = draw(r, r.pick(SWITCHOVER_BASES), index, 0, leaseMs);
      // The switchover needs its candidate's agent: a frozen agent here is a standby's … or the witness's.
      if (base.type === 'sigstop-agent') base = { ...base, params: { ...base.params, role: r.chance(0.5) ? 'standby' : 'witness' } };
      base = { ...base, holdMs: Math.max(base.holdMs, 15 * SECOND) };
      return f(base.holdMs, { base, switchoverAfterMs: r.int(1, 5) * SECOND });
    }
  }
}

/**
 * The campaign's schedule: first every chosen fault once, in a seeded order (so a campaign long
 * enough covers them all), then seeded draws; as many as the duration could hold.
 */
export function planSchedule(options: ScheduleOptions): PlannedFault[] {
  if (options.faults.length === 0) throw new PgvigilError('BAD_ARGUMENT', 'a chaos campaign needs at least one fault type');
  const r = seededRandom(options.seed);
  if (options.maxHoldMs !== undefined) checkMaxHold(options.maxHoldMs, options.leaseMs);
  const order = r.shuffle(options.faults);
  const planned: PlannedFault[] = [];
  let total = 0;
  while (options.once ? planned.length < order.length : total < options.durationMs) {
    const index = planned.length + 1;
    const type = index <= order.length ? (order[index - 1] as FaultType) : r.pick(options.faults);
    const fault = capHold(draw(r, type, index, r.int(3, 12) * SECOND, options.leaseMs), options.maxHoldMs);
    planned.push(fault);
    total += fault.gapMs + fault.holdMs;
  }
  return planned;
}

/** A fault held at most `maxHoldMs` (a switchover's base fault too). */
function capHold(f: PlannedFault, maxHoldMs: number | undefined): PlannedFault {
  if (maxHoldMs === undefined) return f;
  const base = f.params.base ? { ...f.params, base: capHold(f.params.base, maxHoldMs) } : f.params;
  return { ...f, holdMs: Math.min(f.holdMs, maxHoldMs), params: base };
}

/** One line for a planned fault: type, where, parameters, hold. */
export function describeFault(f: PlannedFault, target?: string): string {
  const p = f.params;
  const where = target ?? p.role ?? (p.scope ? (p.scope === 'all' ? 'every host' : `the ${p.scope}`) : undefined);
  const parts: string[] = [];
  if (p.scope && target === undefined) parts.push(`route ${p.scope}`);
  if (p.latencyMs !== undefined) parts.push(`latency ${p.latencyMs} ms${p.jitterMs ? ` + up to ${p.jitterMs} ms` : ''}`);
  if (p.errorRate !== undefined) parts.push(`${Math.round(p.errorRate * 100)} % 5xx`);
  if (p.throttleRate !== undefined) parts.push(`${Math.round(p.throttleRate * 100)} % throttled`);
  if (p.lossPercent !== undefined) parts.push(`${p.lossPercent} % loss`);
  if (p.delayMs !== undefined) parts.push(`${p.delayMs} ms delay`);
  if (p.base) parts.push(`under ${describeFault(p.base)}, switchover after ${(p.switchoverAfterMs ?? 0) / 1000} s`);
  const hold = f.holdMs > 0 && !p.base ? ` for ${(f.holdMs / 1000).toFixed(1)} s` : '';
  return `${f.type}${where ? ` on ${where}` : ''}${parts.length ? ` (${parts.join(', ')})` : ''}${hold}`;
}
