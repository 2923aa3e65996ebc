/**
 * Placeholder entry point so the CDK app can bundle the evaluator before the controller lands.
 * The controller work replaces this file with the real handler (DynamoDB Stream batches and the
 * scheduled sweep).
 */
export const handler = async (_event: unknown): Promise<never> => {
  throw new Error('pgvigil evaluator: not built yet');
};
