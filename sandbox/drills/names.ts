/** The drills' names (a module of its own: the chaos campaign's schedule lists them without loading the runner). */

/** The nine drills whose faults the chaos campaign also injects (sandbox/chaos/schedule.ts). */
export const SCENARIO_NAMES = [
  'crash-primary',
  'kill-primary-host',
  'partition-primary',
  'partition-witness',
  'stop-agent',
  'kill-controller-mid-saga',
  'switchover',
  'rejoin',
  'flapping',
] as const;

/** Hosts cut from AWS for a minute: the campaign's own `aws-blackhole` fault covers these cuts. */
export const AWS_CUT_SCENARIO_NAMES = ['control-plane-outage', 'primary-cut-from-aws'] as const;

/** Every drill. */
export const DRILL_NAMES = [...SCENARIO_NAMES, ...AWS_CUT_SCENARIO_NAMES] as const;
export type ScenarioName = (typeof DRILL_NAMES)[number];
