/** `npm run bench:peers -- [ROUNDS] [--systems a,b] [--faults x,y] [--json]`, checked before anything starts. */
import { FAULTS, SYSTEMS, type FaultName, type SystemName } from './stats.js';

export interface BenchArgs {
  rounds: number;
  systems: SystemName[];
  faults: FaultName[];
  json: boolean;
}

export const USAGE = `usage: npm run bench:peers -- [ROUNDS] [--systems ${SYSTEMS.join(',')}] [--faults ${FAULTS.join(',')}] [--json]`;

function list<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a comma-separated list (${allowed.join(', ')})`);
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length > 0 || items.length === 0) throw new Error(`${flag}: unknown ${bad.length ? `"${bad.join('", "')}"` : 'empty list'}; choose from ${allowed.join(', ')}`);
  return allowed.filter((a) => items.includes(a));
}

/** Parses the command line; throws an Error saying which argument is wrong. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { rounds: 2, systems: [...SYSTEMS], faults: [...FAULTS], json: false };
  let roundsSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--systems') args.systems = list(a, argv[++i], SYSTEMS);
    else if (a === '--faults') args.faults = list(a, argv[++i], FAULTS);
    else if (a === '--json') args.json = true;
    else if (/^\d+$/.test(a) && !roundsSeen && Number(a) >= 1) {
      args.rounds = Number(a);
      roundsSeen = true;
    } else throw new Error(`unexpected argument "${a}" (ROUNDS is a positive integer, given once)`);
  }
  return args;
}
