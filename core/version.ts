/** Reported in heartbeats and by `pgvigil version`; keep in step with package.json. */
export const PGVIGIL_VERSION = '0.1.0';
