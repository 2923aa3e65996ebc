/**
 * repmgr's `event_notification_command` (docs/operations.md): which events a node runs it for, and
 * the command line with repmgr's placeholders filled in. The agent runs it (agent/daemon/
 * event-commands.ts); this module only decides and formats.
 */
import type { EventName } from './events.js';
import type { ClusterSnapshot, EventRecord } from './model.js';

/** Events whose %p, %c and %a name the primary the node registered under or now follows (repmgr's meaning). */
const UPSTREAM_EVENTS: readonly EventName[] = ['standby_register', 'standby_follow', 'repmgrd_failover_follow'];

/** Events whose %p is the primary that was replaced (repmgr: the demoted or former primary). */
const FORMER_PRIMARY_EVENTS: readonly EventName[] = ['standby_switchover', 'repmgrd_failover_promote'];

/** The command's own failures are recorded as events but never run it again (no loop). */
const NEVER_RUN: readonly EventName[] = ['event_notification_failed'];

/** repmgr's filter: empty or `all` lets every event through. */
export function eventSelected(filter: readonly string[] | null, event: EventName): boolean {
  if (NEVER_RUN.includes(event)) return false;
  return filter === null || filter.length === 0 || filter.includes('all') || filter.includes(event);
}

/** The values of the placeholders, raw (the environment gets them as they are). */
export interface EventPlaceholders {
  n: string;
  a: string;
  e: string;
  s: string;
  t: string;
  d: string;
  p: string;
  c: string;
}

/**
 * repmgr's values: %n node id, %e event, %s 1/0, %t timestamp (PostgreSQL's text, UTC), %d details;
 * %p, %c and %a only for the events repmgr gives them (empty otherwise). %p of a promotion or a
 * switchover comes from the event itself; the primary of a register or follow event is the node's
 * upstream in `snapshot`, the cluster as the agent read it last.
 */
export function eventPlaceholders(event: EventRecord, snapshot: ClusterSnapshot | undefined): EventPlaceholders {
  const values: EventPlaceholders = {
    n: String(event.node_id),
    a: '',
    e: event.event,
    s: event.successful ? '1' : '0',
    t: pgTimestamp(event.timestamp),
    d: event.details,
    p: '',
    c: '',
  };
  if (FORMER_PRIMARY_EVENTS.includes(event.event)) {
    const former = event.info?.former_primary_node_id;
    if (typeof former === 'number') values.p = String(former);
  } else if (UPSTREAM_EVENTS.includes(event.event) && snapshot) {
    const me = snapshot.nodes.find((n) => n.node_id === event.node_id);
    const upstreamId = me?.upstream_node_id ?? snapshot.cluster.primary_node_id;
    const upstream = snapshot.nodes.find((n) => n.node_id === upstreamId);
    if (upstream) {
      values.p = String(upstream.node_id);
      values.c = upstream.conninfo;
      values.a = upstream.node_name;
    }
  }
  return values;
}

/**
 * The command line: each %x replaced by its value, %% by %, anything else left as written. Values
 * lose the characters a shell treats specially inside quotes (" ' ` $ \) and control characters, so
 * that "%d" or '%d' stays one word whatever the details say; the exact text is in the environment.
 */
export function expandEventCommand(command: string, values: EventPlaceholders): string {
  return command.replace(/%([naestdpc%])/g, (_, p: string) => (p === '%' ? '%' : shellInert(values[p as keyof EventPlaceholders])));
}

/** The same values, exact, as environment variables for the command. */
export function eventEnvironment(event: EventRecord, values: EventPlaceholders): Record<string, string> {
  return {
    PGVIGIL_EVENT: values.e,
    PGVIGIL_EVENT_NODE_ID: values.n,
    PGVIGIL_EVENT_SUCCESSFUL: values.s,
    PGVIGIL_EVENT_TIMESTAMP: values.t,
    PGVIGIL_EVENT_DETAILS: values.d,
    PGVIGIL_EVENT_CLUSTER_ID: event.cluster_id,
    PGVIGIL_EVENT_TERM: String(event.term),
    PGVIGIL_EVENT_PRIMARY_NODE_ID: values.p,
    PGVIGIL_EVENT_PRIMARY_CONNINFO: values.c,
    PGVIGIL_EVENT_PRIMARY_NODE_NAME: values.a,
    PGVIGIL_EVENT_INFO: JSON.stringify(event.info ?? {}),
  };
}

function shellInert(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/["'`$\\]/g, '').replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** `2026-12-07 03:12:05.123+00`: the form of repmgr's event_timestamp, in UTC. */
export function pgTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}+00`;
}
