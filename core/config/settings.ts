/**
 * The part of a node's configuration the controller needs (SPEC §3, §6). It is written into the
 * cluster record at `primary register`, because the controller reads no files.
 */
import { ClusterSettingsSchema, type ClusterSettings } from '../model.js';
import type { PgvigilConfig } from './keys.js';

export function clusterSettingsFromConfig(config: PgvigilConfig): ClusterSettings {
  // parse() re-applies the schema's own ranges, so a settings object can never hold what the
  // controller would reject when it reads the cluster record back.
  return ClusterSettingsSchema.parse({
    failover: config.failover,
    heartbeat_interval_secs: config.heartbeat_interval_secs,
    node_timeout_secs: config.node_timeout_secs,
    lease_secs: config.lease_secs,
    clock_skew_margin_ms: config.clock_skew_margin_ms,
    reconnect_attempts: config.reconnect_attempts,
    reconnect_interval: config.reconnect_interval,
    maximum_lag_on_failover: config.maximum_lag_on_failover,
    failover_on_location_loss: config.failover_on_location_loss,
    primary_visibility_consensus: config.primary_visibility_consensus,
    auto_rejoin: config.auto_rejoin,
    standby_disconnect_on_failover: config.standby_disconnect_on_failover,
    sibling_nodes_disconnect_timeout: config.sibling_nodes_disconnect_timeout,
    failover_validation_command: config.failover_validation_command,
    election_rerun_interval: config.election_rerun_interval,
    promote_check_timeout: config.promote_check_timeout,
    primary_follow_timeout: config.primary_follow_timeout,
    node_rejoin_timeout: config.node_rejoin_timeout,
    fence_mode: config.fence_mode,
    replication_lag_warning: config.replication_lag_warning,
    replication_lag_critical: config.replication_lag_critical,
    event_notifications: config.event_notifications.includes('all') ? null : [...config.event_notifications],
    vip_allocation_id: config.vip_allocation_id === '' ? null : config.vip_allocation_id,
    route53_zone_id: config.route53_zone_id === '' ? null : config.route53_zone_id,
    route53_record_name: config.route53_record_name === '' ? null : config.route53_record_name,
    route53_ttl: config.route53_ttl,
    writer_endpoint: config.writer_endpoint === '' ? null : config.writer_endpoint,
    reader_endpoint: config.reader_endpoint === '' ? null : config.reader_endpoint,
  });
}
