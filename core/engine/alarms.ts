/**
 * Alarm-only states (docs/decision-engine.md): things an operator must hear about that call for no controller
 * action. They are computed for every decision, whatever its code.
 */
import type { Alarm, DecisionEvent } from '../decision.js';
import { isTwoNodeWithoutWitness } from './evidence.js';
import { formatDuration, label, staleness, type EngineContext } from './freshness.js';

export interface AlarmFindings {
  alarms: Alarm[];
  events: DecisionEvent[];
}

export function collectAlarms(ctx: EngineContext): AlarmFindings {
  const alarms: Alarm[] = [];
  const events: DecisionEvent[] = [];
  const primary = ctx.primary;
  for (const v of ctx.views) {
    const id = v.node.node_id;
    if (v.skewed && v.age_ms !== null) {
      const message = `${label(v.node)} ${staleness(v, ctx) ?? ''}`.trim();
      alarms.push({ kind: 'clock_skew', node_id: id, message });
      events.push({ event: 'clock_skew', node_id: id, successful: false, details: `heartbeat sent ${formatDuration(-v.age_ms)} ahead of controller time; clock_skew_margin_ms=${ctx.margin}` });
      continue;
    }
    if (!v.fresh) {
      if (!v.node.active) continue;
      const message = `${label(v.node)} ${staleness(v, ctx) ?? ''}`.trim();
      if (v === primary) alarms.push({ kind: 'primary_unreachable', node_id: id, message });
      else if (v.node.type === 'witness') alarms.push({ kind: 'witness_dark', node_id: id, message: `${message}: the cluster has lost a vantage point and a vote` });
      else alarms.push({ kind: 'node_stale', node_id: id, message });
      continue;
    }
    const s = v.server;
    if (!s) continue;
    if (s.data_directory_writable === false) {
      alarms.push({ kind: 'data_directory_not_writable', node_id: id, message: `${label(v.node)} reports that its data directory is not writable` });
    }
    if (v === primary || v.node.type !== 'standby' || !v.node.active || v.node.fenced || s.fenced || !primary) continue;
    if (!s.postmaster_running) {
      alarms.push({ kind: 'replication_broken', node_id: id, message: `${label(v.node)}: its PostgreSQL server is not running` });
    } else if (s.in_recovery === true && s.wal_receiver_status !== 'streaming') {
      alarms.push({
        kind: 'replication_broken',
        node_id: id,
        message: `${label(v.node)}: WAL receiver is ${s.wal_receiver_status === null ? 'not running' : `"${s.wal_receiver_status}"`}, not streaming`,
      });
    }
    const lag = s.replication_lag_secs;
    if (typeof lag === 'number') {
      const { replication_lag_critical: critical, replication_lag_warning: warning } = ctx.settings;
      if (lag >= critical) {
        alarms.push({ kind: 'replication_lag_critical', node_id: id, message: `${label(v.node)} lags ${formatDuration(lag * 1000)} behind (replication_lag_critical=${critical} s)` });
      } else if (lag >= warning) {
        alarms.push({ kind: 'replication_lag_warning', node_id: id, message: `${label(v.node)} lags ${formatDuration(lag * 1000)} behind (replication_lag_warning=${warning} s)` });
      }
    }
  }
  if (primary && isTwoNodeWithoutWitness(ctx, primary)) {
    alarms.push({ kind: 'two_node_no_witness', node_id: null, message: 'one primary and one standby without a witness: a failover rests on the lease alone; add a witness in a third location' });
  }
  return { alarms, events };
}
