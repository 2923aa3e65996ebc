/**
 * The failure drills (docs/sandbox.md): one module per scenario, what they are written against in
 * scenario.ts, the common runner in runner.ts, looking at and repairing the cluster in heal.ts.
 */
import { PgvigilError } from '../../core/errors.js';
import { controlPlaneOutage, primaryCutFromAws } from './control-plane-outage.js';
import { crashPrimary } from './crash-primary.js';
import { flapping } from './flapping.js';
import { killControllerMidSaga } from './kill-controller-mid-saga.js';
import { killPrimaryHost } from './kill-primary-host.js';
import { partitionPrimary } from './partition-primary.js';
import { partitionWitness } from './partition-witness.js';
import { rejoin } from './rejoin.js';
import { DRILL_NAMES, type ScenarioName } from './names.js';
import type { Scenario } from './scenario.js';
import { stopAgent } from './stop-agent.js';
import { switchover } from './switchover.js';

export * from './names.js';
export * from './scenario.js';
export * from './heal.js';
export * from './runner.js';

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'crash-primary': crashPrimary,
  'kill-primary-host': killPrimaryHost,
  'partition-primary': partitionPrimary,
  'partition-witness': partitionWitness,
  'stop-agent': stopAgent,
  'kill-controller-mid-saga': killControllerMidSaga,
  switchover,
  rejoin,
  flapping,
  'control-plane-outage': controlPlaneOutage,
  'primary-cut-from-aws': primaryCutFromAws,
};

/** The scenario of that name, or a clear error listing the names. */
export function scenario(name: string): Scenario {
  if (!(DRILL_NAMES as readonly string[]).includes(name)) {
    throw new PgvigilError('BAD_ARGUMENT', `unknown drill scenario "${name}"`, { hint: `choose one of: ${DRILL_NAMES.join(', ')}` });
  }
  return SCENARIOS[name as ScenarioName];
}
