/** The drills' names (a module of its own: the chaos campaign's schedule lists them without loading the runner). */
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
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
