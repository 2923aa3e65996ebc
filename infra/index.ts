/** pgvigil's infrastructure as code: one import for your own CDK app. */
export { PgvigilControlPlane, CLUSTER_TAG } from './construct.js';
export type { PgvigilControlPlaneProps, PgvigilClusterProps, PgvigilAlarmThresholds } from './construct.js';
export * from './ssm-documents.js';
