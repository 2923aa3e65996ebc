/** repmgr-compatible configuration (docs/configuration.md): the key table, the parser, and what derives from it. */
export {
  CONFIG_KEYS,
  CONFIG_KEY_NAMES,
  REPMGR_UNUSED_KEYS,
  CONNECTION_CHECK_TYPES,
  FAILOVER_MODES,
  FENCE_MODES,
  LOG_LEVELS,
  type ConfigKey,
  type ConfigKeySpec,
  type ConfigKeyTable,
  type ConfigValueType,
  type PgvigilConfig,
} from './keys.js';
export { parseConfig, envVariablesFor, isConfigKey, type ParsedConfig, type ConfigOrigin, type ConfigSource } from './parse.js';
export { clusterSettingsFromConfig } from './settings.js';
export { displayConfigValue, redactConfig, renderConfigKeysMarkdown } from './display.js';
