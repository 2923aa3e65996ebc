/**
 * The agent's state file (`agent_state_dir/agent-<node_id>.json`): the heartbeat sequence number,
 * the events not yet written to DynamoDB and how far event_notification_command got, kept across
 * restarts.
 *
 * The agent writes it, but an older version may have, a person may have edited it, a full disk
 * may have cut it short: it is read as input, strictly (an unknown key or a bad field is named, the
 * size is bounded). A file that is not valid is not used at all and the agent says why; it then
 * starts from sequence 0 with no queued events, because refusing to start over this file would
 * leave the node without its agent. Sequence 0 is safe: the controller compares sequence numbers
 * only among the heartbeats it reads together, and each node has one heartbeat item.
 */
import { readFile, stat } from 'node:fs/promises';
import { EventRecordSchema } from '../core/model.js';
import { array, integer, object, optional, type Infer } from '../core/schema.js';

/** Most events the agent queues while DynamoDB is unreachable; the oldest are dropped first. */
export const MAX_QUEUED_EVENTS = 1000;

/** Room for a full queue of events with long details. */
export const MAX_STATE_FILE_BYTES = 16 * 1024 * 1024;

export const AgentStateSchema = object('agent state', {
  seq: integer(0),
  events: array(EventRecordSchema, MAX_QUEUED_EVENTS),
  /** The newest event event_notification_command was run for (agent/daemon/event-commands.ts). */
  notified_until: optional(integer(0)),
});
export type AgentState = Infer<typeof AgentStateSchema>;

export interface ReadAgentState {
  state: AgentState;
  /** Why an existing file was not used; undefined when it was used or there was none. */
  problem?: string;
}

/** Reads the state file; events of another cluster (a reused state directory) are left out. */
export async function readAgentState(file: string, clusterId: string): Promise<ReadAgentState> {
  const empty: AgentState = { seq: 0, events: [] };
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_STATE_FILE_BYTES) return { state: empty, problem: `${size} bytes is more than a state file may hold (${MAX_STATE_FILE_BYTES})` };
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { state: empty } : { state: empty, problem: `unreadable: ${code ?? String(error)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { state: empty, problem: `not valid JSON: ${(error as Error).message}` };
  }
  const result = AgentStateSchema.check(json);
  if (!result.ok) return { state: empty, problem: result.errors.join('; ') };
  const { seq, events, notified_until } = result.value;
  return { state: { seq, events: events.filter((e) => e.cluster_id === clusterId), ...(notified_until === undefined ? {} : { notified_until }) } };
}
