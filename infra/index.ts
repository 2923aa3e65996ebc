/**
 * pgvigil's infrastructure as code: one import for your own CDK app.
 * (The emulator deployment, `deployToEmulator`, is the sandbox's: sandbox/deploy-to-emulator.ts.)
 */
export { PgvigilControlPlane, CLUSTER_TAG } from './construct.js';
export type { PgvigilControlPlaneProps, PgvigilClusterProps, PgvigilAlarmThresholds } from './construct.js';
export { PgvigilControlPlaneStack, CONTROL_PLANE_OUTPUTS, parseClusters } from './control-plane-stack.js';
export type { PgvigilControlPlaneStackProps } from './control-plane-stack.js';
export * from './ssm-documents.js';
