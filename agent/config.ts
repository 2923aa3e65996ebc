/**
 * The agent's configuration is the shared repmgr.conf model (core/config, docs/configuration.md): snake_case keys,
 * defaults applied, every problem reported at once with file, line and key.
 */
import { loadConfigFile } from '../adapters/config-file.js';
import { parseConfig, type PgvigilConfig } from '../core/config/index.js';

export type AgentConfig = PgvigilConfig;
export type ConnectionCheckType = PgvigilConfig['connection_check_type'];

/** Parses repmgr.conf text (tests write their own files with it). */
export function parseAgentConfig(text: string, file: string, env: Record<string, string | undefined> = {}): AgentConfig {
  return parseConfig(text, file, env).config;
}

/** Reads and parses a configuration file; notices (e.g. repmgr keys pgvigil does not use) are returned. */
export function loadAgentConfig(file: string, env: Record<string, string | undefined> = process.env): { config: AgentConfig; notices: string[] } {
  const loaded = loadConfigFile(file, env);
  return { config: loaded.config, notices: loaded.notices };
}
