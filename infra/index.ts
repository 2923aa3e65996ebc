/**
 * pgvigil's infrastructure as code: one import for your own CDK app.
 * (The emulator deployment, `deployToEmulator`, lives in ./deploy-to-emulator.js: it pulls in AWS SDK clients.)
 */
export { PgvigilControlPlane, CLUSTER_TAG } from './construct.js';
export type { PgvigilControlPlaneProps, PgvigilClusterProps, PgvigilAlarmThresholds } from './construct.js';
export { PgvigilControlPlaneStack, CONTROL_PLANE_OUTPUTS, parseClusters } from './control-plane-stack.js';
export type { PgvigilControlPlaneStackProps } from './control-plane-stack.js';
export * from './ssm-documents.js';
