/**
 * The SSM Run Command documents pgvigil sends to hosts: their names, their parameters and the
 * `allowedPattern` of each parameter. The CDK construct declares the documents from
 * these definitions and the controller validates every parameter against the same patterns before
 * it calls SendCommand, so a value SSM would refuse is refused here first with a clear message —
 * and no parameter can ever carry shell text.
 */
import { CLUSTER_ID_PATTERN } from './config/keys.js';
import { PgvigilError } from './errors.js';
import type { HostAction, HostActionName } from './host-actions.js';

/** `allowedPattern` of every document parameter. */
export const SSM_PARAMETER_PATTERNS = {
  ClusterId: CLUSTER_ID_PATTERN.source,
  NodeId: '^[0-9]{1,10}$',
  Term: '^[0-9]{1,18}$',
  UpstreamNodeId: '^[0-9]{1,10}$',
  ForceRewind: '^(true|false)$',
  ConfigFile: '^/[A-Za-z0-9_./-]{1,255}$',
} as const;

export type SsmParameterName = keyof typeof SSM_PARAMETER_PATTERNS;

/** Where the agent's repmgr.conf lives when the node record does not say. */
export const DEFAULT_CONFIG_FILE = '/etc/pgvigil/repmgr.conf';

/** The document suffix (`<prefix>-<Action>`) of each host action. */
export const SSM_DOCUMENT_ACTIONS: Record<HostActionName, string> = {
  promote: 'Promote',
  follow: 'Follow',
  rejoin: 'Rejoin',
  fence: 'Fence',
  'unfence-primary': 'Unfence',
  demote: 'Demote',
  'disconnect-wal-receiver': 'DisconnectWalReceiver',
  'reconnect-wal-receiver': 'ReconnectWalReceiver',
  'node-check': 'NodeCheck',
};

/** The agent command line each document runs (`pgvigil-agent <words> -f {{ConfigFile}} …`). */
export const SSM_AGENT_COMMANDS: Record<HostActionName, string> = {
  promote: 'promote',
  follow: 'follow',
  rejoin: 'rejoin',
  fence: 'fence',
  'unfence-primary': 'unfence',
  demote: 'demote',
  'disconnect-wal-receiver': 'disconnect-wal-receiver',
  'reconnect-wal-receiver': 'reconnect-wal-receiver',
  'node-check': 'node check',
};

/** Which parameters each document declares (all required unless listed in {@link SSM_OPTIONAL_PARAMETERS}). */
export const SSM_DOCUMENT_PARAMETERS: Record<HostActionName, readonly SsmParameterName[]> = {
  promote: ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  follow: ['ClusterId', 'NodeId', 'Term', 'UpstreamNodeId', 'ConfigFile'],
  rejoin: ['ClusterId', 'NodeId', 'Term', 'UpstreamNodeId', 'ForceRewind', 'ConfigFile'],
  fence: ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  'unfence-primary': ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  demote: ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  'disconnect-wal-receiver': ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  'reconnect-wal-receiver': ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
  'node-check': ['ClusterId', 'NodeId', 'Term', 'ConfigFile'],
};

/** Parameters with a document default (the controller may leave them out). */
export const SSM_OPTIONAL_PARAMETERS: Readonly<Partial<Record<SsmParameterName, string>>> = {
  ConfigFile: DEFAULT_CONFIG_FILE,
  ForceRewind: 'false',
};

/** `<prefix>-<Action>`, e.g. `pgvigil-Promote`. */
export function ssmDocumentName(prefix: string, action: HostActionName): string {
  return `${prefix}-${SSM_DOCUMENT_ACTIONS[action]}`;
}

/**
 * The SendCommand `Parameters` for one host action, each checked against its document pattern.
 * Throws BAD_INPUT naming every parameter that does not match; nothing is sent then.
 */
export function ssmParameters(action: HostAction): Record<string, string[]> {
  const raw: Partial<Record<SsmParameterName, string>> = {
    ClusterId: action.clusterId,
    NodeId: String(action.nodeId),
    Term: String(action.term),
    ConfigFile: action.configFile ?? DEFAULT_CONFIG_FILE,
  };
  if (action.upstreamNodeId !== undefined) raw.UpstreamNodeId = String(action.upstreamNodeId);
  if (action.forceRewind !== undefined) raw.ForceRewind = String(action.forceRewind);

  const wanted = SSM_DOCUMENT_PARAMETERS[action.action];
  const problems: string[] = [];
  const out: Record<string, string[]> = {};
  for (const name of wanted) {
    const value = raw[name] ?? SSM_OPTIONAL_PARAMETERS[name];
    if (value === undefined) {
      problems.push(`${name}: required by the ${SSM_DOCUMENT_ACTIONS[action.action]} document`);
      continue;
    }
    if (!new RegExp(SSM_PARAMETER_PATTERNS[name]).test(value)) {
      problems.push(`${name}: ${JSON.stringify(value)} does not match ${SSM_PARAMETER_PATTERNS[name]}`);
      continue;
    }
    out[name] = [value];
  }
  for (const name of Object.keys(raw) as SsmParameterName[]) {
    if (!wanted.includes(name) && name !== 'ConfigFile') {
      problems.push(`${name}: the ${SSM_DOCUMENT_ACTIONS[action.action]} document takes no such parameter`);
    }
  }
  if (problems.length > 0) {
    throw new PgvigilError('BAD_INPUT', `invalid parameters for host action "${action.action}" on node ${action.nodeId}`, {
      detail: problems.join('\n'),
    });
  }
  return out;
}
