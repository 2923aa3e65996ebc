/**
 * Where the daemon keeps its state file (`<agent_state_dir>/agent-<node_id>.json`) and how it reads
 * and writes it; the file's format and its strict reading are in agent/state-file.ts. Without
 * `agent_state_dir` there is no file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../config.js';
import type { Logger } from '../log.js';
import { readAgentState, type AgentState } from '../state-file.js';

export type { AgentState } from '../state-file.js';

export function stateFilePath(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id'>): string | undefined {
  return config.agent_state_dir ? join(config.agent_state_dir, `agent-${config.node_id}.json`) : undefined;
}

/** The saved state, or a fresh one (sequence 0, no events) when there is none or it is not valid. */
export async function loadAgentState(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id' | 'cluster_id'>, log: Logger): Promise<AgentState> {
  const file = stateFilePath(config);
  if (!file) return { seq: 0, events: [] };
  const { state, problem } = await readAgentState(file, config.cluster_id);
  if (problem) log.log('WARNING', 'agent state file not used: starting from heartbeat sequence 0 with no queued events', { file, problem });
  return state;
}

/** Writes the state file (mode 0600); throws when it cannot. */
export async function saveAgentState(config: Pick<AgentConfig, 'agent_state_dir' | 'node_id'>, state: AgentState): Promise<void> {
  const file = stateFilePath(config);
  if (!file) return;
  await mkdir(config.agent_state_dir, { recursive: true });
  const notified = state.notified_until === undefined ? {} : { notified_until: state.notified_until };
  await writeFile(file, JSON.stringify({ seq: state.seq, events: state.events, ...notified }), { mode: 0o600 });
}
