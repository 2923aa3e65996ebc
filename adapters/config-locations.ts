/**
 * Where pgvigil looks for its repmgr.conf-format file when no `-f` names one, first match wins
 * (see adapters/config-file.ts). A module of its own so the CLI can name the places without
 * loading the configuration parser at start-up.
 */
export const DEFAULT_CONFIG_LOCATIONS = ['repmgr.conf', '/etc/pgvigil/repmgr.conf', '/etc/repmgr.conf'] as const;
