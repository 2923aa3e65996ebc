/**
 * The agent's state file (`<agent_state_dir>/agent-<node_id>.json`): the heartbeat sequence and the
 * events DynamoDB has not taken yet, so a restart neither reuses sequence numbers nor loses events.
 * Without `agent_state_dir` there is no file. A damaged file, or events of another cluster, are
 * ignored: the state file only ever adds what is valid.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkEventRecord } from '../../core/model-check.js';
import type { EventRecord } from '../../core/model.js';
import type { AgentConfig } from '../config.js';

export interface AgentState {
  seq: number;
  events: EventRecord[];
}

export function stateFilePath(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id'>): string | undefined {
  return config.agent_state_dir ? join(config.agent_state_dir, `agent-${config.node_id}.json`) : undefined;
}

export async function loadAgentState(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id' | 'cluster_id'>): Promise<AgentState> {
  const file = stateFilePath(config);
  const state: AgentState = { seq: 0, events: [] };
  if (!file) return state;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { seq?: unknown; events?: unknown };
    if (Array.isArray(saved.events)) {
      for (const e of saved.events) {
        const valid = checkEventRecord(e);
        if (valid.ok && valid.value.cluster_id === config.cluster_id) state.events.push(valid.value);
      }
    }
    if (typeof saved.seq === 'number' && Number.isInteger(saved.seq) && saved.seq >= 0) state.seq = saved.seq;
  } catch {
    // no file yet, or a damaged one: start from nothing
  }
  return state;
}

/** Writes the state file (mode 0600); throws when it cannot. */
export async function saveAgentState(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id'>, state: AgentState): Promise<void> {
  const file = stateFilePath(config);
  if (!file) return;
  await mkdir(config.agent_state_dir, { recursive: true });
  await writeFile(file, JSON.stringify({ seq: state.seq, events: state.events }), { mode: 0o600 });
}
