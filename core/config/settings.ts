/**
 * The cluster settings: the part of a node's configuration the controller needs. They are written
 * into the cluster record at `primary register`, because the controller reads no files.
 *
 * One fact, one place: the key table (core/config/keys.ts) is what users read — it drives the
 * parser, `config check` and docs/configuration.md — so each setting's type, range, allowed values
 * and default are taken from its entry there. This module only says which keys the record carries
 * and which change form in it: an empty route (`vip_allocation_id`, the Route 53 record, the load
 * balancer endpoints) and every event (`event_notifications=all`) are null.
 */
import { array, boolean, integer, nullable, number, object, oneOf, string, withDefault, type ObjectSchema, type Schema } from '../schema.js';
import { CONFIG_KEYS, DEFAULT_MAX_LENGTH, type ConfigKeySpec, type PgvigilConfig } from './keys.js';

/** The keys the cluster record carries, in the record's order. */
export const CLUSTER_SETTING_KEYS = [
  'failover',
  'heartbeat_interval_secs',
  'node_timeout_secs',
  'lease_secs',
  'clock_skew_margin_ms',
  'reconnect_attempts',
  'reconnect_interval',
  'maximum_lag_on_failover',
  'failover_on_location_loss',
  'primary_visibility_consensus',
  'auto_rejoin',
  'standby_disconnect_on_failover',
  'sibling_nodes_disconnect_timeout',
  'failover_validation_command',
  'election_rerun_interval',
  'promote_check_timeout',
  'primary_follow_timeout',
  'node_rejoin_timeout',
  'fence_mode',
  'replication_lag_warning',
  'replication_lag_critical',
  'event_notifications',
  'vip_allocation_id',
  'route53_zone_id',
  'route53_record_name',
  'route53_ttl',
  'writer_endpoint',
  'reader_endpoint',
] as const satisfies readonly (keyof PgvigilConfig)[];

export type ClusterSettingKey = (typeof CLUSTER_SETTING_KEYS)[number];

/** The keys whose unset value is null in the record, and what "unset" is in the configuration. */
const NULL_WHEN_UNSET = {
  event_notifications: (value: readonly string[]): boolean => value.includes('all'),
  vip_allocation_id: (value: string): boolean => value === '',
  route53_zone_id: (value: string): boolean => value === '',
  route53_record_name: (value: string): boolean => value === '',
  writer_endpoint: (value: string): boolean => value === '',
  reader_endpoint: (value: string): boolean => value === '',
};
type NullWhenUnset = keyof typeof NULL_WHEN_UNSET;

/** Settings the controller needs for one cluster: the key table's types, null where unset (above). */
export type ClusterSettings = { [K in ClusterSettingKey]: K extends NullWhenUnset ? PgvigilConfig[K] | null : PgvigilConfig[K] };

/** How the record holds one key: the key table's type and bounds. */
function valueSchema(spec: ConfigKeySpec<unknown>): Schema<unknown> {
  switch (spec.type) {
    case 'int':
    case 'bytes':
      return integer(spec.min ?? 0, spec.max);
    case 'number':
      return number({ min: spec.min, max: spec.max });
    case 'bool':
      return boolean;
    case 'enum':
      return oneOf(spec.values ?? []);
    case 'list':
      return array(string({ max: spec.maxLength ?? DEFAULT_MAX_LENGTH }), spec.maxItems ?? 0);
    case 'string':
      return string({ max: spec.maxLength ?? DEFAULT_MAX_LENGTH, refine: spec.check });
  }
}

function settingSchema(key: ClusterSettingKey): Schema<unknown> {
  const spec = CONFIG_KEYS[key] as ConfigKeySpec<unknown>;
  const value = valueSchema(spec);
  if (key in NULL_WHEN_UNSET) return withDefault(nullable(value), () => null);
  const fallback = spec.default;
  return withDefault(spec.nullable ? nullable(value) : value, () => (Array.isArray(fallback) ? [...fallback] : fallback));
}

/** Every key has a default, so `{}` is valid (the defaults of docs/configuration.md). */
export const ClusterSettingsSchema = object(
  'cluster settings',
  Object.fromEntries(CLUSTER_SETTING_KEYS.map((key) => [key, settingSchema(key)])),
) as unknown as ObjectSchema<{ [K in ClusterSettingKey]: Schema<ClusterSettings[K]> }>;

export function clusterSettingsFromConfig(config: PgvigilConfig): ClusterSettings {
  const settings: Record<string, unknown> = {};
  for (const key of CLUSTER_SETTING_KEYS) {
    const value = config[key];
    const unset = (NULL_WHEN_UNSET as Partial<Record<ClusterSettingKey, (v: never) => boolean>>)[key];
    settings[key] = unset?.(value as never) ? null : Array.isArray(value) ? [...value] : value;
  }
  // parse() applies the same bounds the controller applies when it reads the record back.
  return ClusterSettingsSchema.parse(settings);
}
