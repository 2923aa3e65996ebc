/**
 * Placeholder entry point so the CDK app can bundle the switchover function before the controller
 * lands. The controller work replaces this file with the real handler.
 */
export const handler = async (_event: unknown): Promise<never> => {
  throw new Error('pgvigil switchover: not built yet');
};
