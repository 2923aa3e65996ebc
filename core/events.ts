/** repmgr's event names, kept where the meaning is the same (docs/controller.md). */
export const REPMGR_EVENTS = [
  'cluster_created',
  'primary_register',
  'primary_unregister',
  'standby_clone',
  'standby_register',
  'standby_unregister',
  'standby_promote',
  'standby_follow',
  'standby_switchover',
  'witness_register',
  'witness_unregister',
  'node_rejoin',
  'cluster_cleanup',
  'repmgrd_failover_promote',
  'repmgrd_failover_follow',
  'repmgrd_failover_aborted',
  'repmgrd_upstream_disconnect',
  'repmgrd_upstream_reconnect',
  'repmgrd_local_disconnect',
  'repmgrd_local_reconnect',
] as const;

/** What pgvigil adds to repmgr's catalogue. */
export const PGVIGIL_EVENTS = [
  'failover_started',
  'failover_cancelled',
  'fence_applied',
  'lease_lost',
  'vip_moved',
  'split_brain_detected',
  'heartbeat_rejected',
  'clock_skew',
  'sync_downgraded',
  'sync_restored',
  'agent_start',
  'agent_stop',
  'switchover_started',
  'switchover_rolled_back',
  'saga_step_failed',
  'action_refused',
  'cluster_paused',
  'cluster_unpaused',
  'replication_alarm',
  'witness_dark',
  'demote',
  'fence_lifted',
  'wal_receiver_disconnected',
  'wal_receiver_reconnected',
  /** The engine ended a failover, switchover or node action before its own steps did (which, why, how). */
  'operation_ended',
  /** The controller left a state with no writable primary (or one holding it back) by itself: which, why, what it does. */
  'stuck_state_recovery',
  /** A primary cut off from DynamoDB kept serving past its lease on every standby's confirmation. */
  'failsafe_entered',
  /** That episode ended: the lease was renewed again, or the confirmations stopped and it fenced. */
  'failsafe_left',
  /** A run of event_notification_command failed or timed out (which event, exit code, output's end). */
  'event_notification_failed',
  /** `standby switchover --scheduled`: a switchover was scheduled, cancelled, started at its time, or could not be. */
  'switchover_scheduled',
  'switchover_schedule_cancelled',
  'switchover_schedule_started',
  'switchover_schedule_failed',
  /** The controller started an instance that a fence had stopped, so that auto_rejoin can rewind and rejoin it. */
  'instance_started',
  /** AWS Health scheduled a change of a node's instance (retirement, maintenance reboot): which, when, what pgvigil did. */
  'aws_scheduled_event',
  /** EC2 warned that it interrupts a node's Spot instance, or recommended rebalancing it: what pgvigil did. */
  'spot_interruption',
  /** `node service --action …` acted on a node's PostgreSQL server (which action, with or without a checkpoint), or failed to. */
  'node_service',
  /** `cluster restart --rolling`: the plan (which nodes, in which order, the switchover candidate). */
  'cluster_restart_started',
  /** One node of a rolling restart was restarted and streams (or serves) again. */
  'cluster_restart_node',
  /** Every node of the plan was restarted; the primary named in the details serves. */
  'cluster_restart_completed',
  /** The rolling restart stopped at its first failure: which step, why, what was done before it. */
  'cluster_restart_failed',
] as const;

export const EVENT_NAMES = [...REPMGR_EVENTS, ...PGVIGIL_EVENTS] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export function isEventName(name: string): name is EventName {
  return (EVENT_NAMES as readonly string[]).includes(name);
}
