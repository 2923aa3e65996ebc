/**
 * The SSM documents of pgvigil, as plain data (no CDK import), so the CDK construct deploys exactly
 * what the sandbox runs locally: {@link commandDocuments} gives each host action's Command document
 * content, and {@link renderCommandScript} validates parameters against the documents' own
 * `allowedPattern`s and substitutes them the way SSM does, yielding the shell script to run.
 *
 * Command documents are named `<prefix>-<Action>` (HELPERS contract). Every parameter has an
 * `allowedPattern`: node ids and terms are digits, the config path is a plain absolute path, so no
 * parameter can inject shell (docs/deploy.md). Each script first checks that the host's config file names
 * the node (and, when the file sets it, the cluster) the controller meant, then runs
 * `pgvigil-agent <action> -f {{ConfigFile}} --term {{Term}} …`.
 */
import type { HostActionName } from '../core/host-actions.js';
import {
  DEFAULT_CONFIG_FILE,
  SSM_AGENT_COMMANDS,
  SSM_DOCUMENT_PARAMETERS,
  SSM_OPTIONAL_PARAMETERS,
  SSM_PARAMETER_PATTERNS,
  type SsmParameterName,
} from '../core/ssm-parameters.js';

/** The host actions, in document-name form. */
export const SSM_ACTIONS = [
  'Promote',
  'Follow',
  'Rejoin',
  'Fence',
  'Unfence',
  'Demote',
  'DisconnectWalReceiver',
  'ReconnectWalReceiver',
  'NodeCheck',
  'NodeService',
] as const;
export type SsmAction = (typeof SSM_ACTIONS)[number];

/**
 * `allowedPattern` of every parameter: the host-action ones are the controller's own
 * (core/ssm-parameters.ts, which validates before SendCommand), plus the Automation document's.
 */
export const PARAMETER_PATTERNS = {
  ...SSM_PARAMETER_PATTERNS,
  CandidateNodeId: '^[0-9]{1,10}$',
  SiblingsFollow: '^(true|false)$',
  DryRun: '^(true|false)$',
  AutomationAssumeRole: '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$',
} as const;

export { DEFAULT_CONFIG_FILE };
export const DEFAULT_DOCUMENT_PREFIX = 'pgvigil';
/** Name suffix of the manual switchover Automation document. */
export const SWITCHOVER_DOCUMENT = 'Switchover';

/** The controller's host action behind each document (core/host-actions.ts HostActionName). */
export const HOST_ACTIONS: Readonly<Record<SsmAction, HostActionName>> = {
  Promote: 'promote',
  Follow: 'follow',
  Rejoin: 'rejoin',
  Fence: 'fence',
  Unfence: 'unfence-primary',
  Demote: 'demote',
  DisconnectWalReceiver: 'disconnect-wal-receiver',
  ReconnectWalReceiver: 'reconnect-wal-receiver',
  NodeCheck: 'node-check',
  NodeService: 'node-service',
};

export interface DocumentParameter {
  type: 'String';
  description: string;
  allowedPattern: string;
  default?: string;
}

export interface CommandDocumentContent {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<string, DocumentParameter>;
  mainSteps: Array<{
    action: 'aws:runShellScript';
    name: string;
    inputs: { timeoutSeconds: string; runCommand: string[] };
  }>;
}

export interface CommandDocument {
  action: SsmAction;
  /** `<prefix>-<Action>`. */
  name: string;
  /** The agent's command words, e.g. `follow`. */
  agentAction: string;
  content: CommandDocumentContent;
}

const PARAMETER_DESCRIPTIONS: Record<SsmParameterName, string> = {
  ClusterId: 'cluster_id the command is meant for',
  NodeId: 'node_id the command is meant for',
  Term: "the controller's term (fencing token)",
  UpstreamNodeId: 'node_id of the node to stream from',
  ForceRewind: 'run pg_rewind first when this node has diverged (true|false)',
  ConfigFile: 'path of the repmgr.conf-format file of the agent',
  ServiceAction: 'what to do with the local PostgreSQL server (reload|restart|stop|start)',
  Checkpoint: 'CHECKPOINT before a stop or restart (true|false)',
  Force: 'stop or restart even the primary, with automatic failover paused (true|false)',
};

const ACTION_TEXT: Record<SsmAction, { description: string; timeoutSeconds: number }> = {
  Promote: { description: 'Promote this standby to primary in the given term.', timeoutSeconds: 300 },
  Follow: { description: 'Make this standby follow the given upstream node.', timeoutSeconds: 300 },
  Rejoin: { description: 'Bring this former primary back as a standby (pg_rewind with ForceRewind=true).', timeoutSeconds: 3600 },
  Fence: { description: 'Stop the local server and keep it from starting as a primary.', timeoutSeconds: 300 },
  Unfence: { description: 'Lift a fence and start as primary (only when the cluster record names this node primary).', timeoutSeconds: 300 },
  Demote: { description: 'Switchover: clean checkpoint and fast stop of the primary; reports the final LSN.', timeoutSeconds: 600 },
  DisconnectWalReceiver: { description: 'Stop the WAL receiver of this standby.', timeoutSeconds: 120 },
  ReconnectWalReceiver: { description: 'Restart the WAL receiver of this standby.', timeoutSeconds: 120 },
  NodeCheck: { description: "Run repmgr's node check on this host.", timeoutSeconds: 120 },
  NodeService: { description: "Reload, restart, stop or start the local PostgreSQL server (repmgr's node service).", timeoutSeconds: 600 },
};

/**
 * Refuses (exit 1, repmgr's ERR_BAD_CONFIG) when the host's config file is for another node or
 * cluster: an instance re-used for something else must never act on a command meant for its past.
 * Plain POSIX sh + sed, so it runs the same on Amazon Linux and in the sandbox.
 */
const GUARD = [
  "conf='{{ConfigFile}}'",
  'if [ ! -r "$conf" ]; then echo "ERROR: configuration file \\"$conf\\" not found or not readable" >&2; exit 1; fi',
  `key() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*['\\"]\\{0,1\\}\\([^'\\"#[:space:]]*\\).*/\\1/p" "$conf" | tail -n 1; }`,
  'file_node=$(key node_id)',
  "if [ \"$file_node\" != '{{NodeId}}' ]; then echo \"ERROR: this host is node_id $file_node in $conf, the command was meant for node_id {{NodeId}}\" >&2; exit 1; fi",
  'file_cluster=$(key cluster_id)',
  "if [ -n \"$file_cluster\" ] && [ \"$file_cluster\" != '{{ClusterId}}' ]; then echo \"ERROR: this host belongs to cluster $file_cluster in $conf, the command was meant for cluster {{ClusterId}}\" >&2; exit 1; fi",
];

export interface CommandDocumentOptions {
  /** Document name prefix. @default 'pgvigil' */
  prefix?: string;
  /** The agent's executable (absolute path or a name on PATH). @default 'pgvigil-agent' */
  agentCommand?: string;
  /** Default of the ConfigFile parameter. @default '/etc/pgvigil/repmgr.conf' */
  configFile?: string;
}

export function documentName(prefix: string, action: SsmAction | typeof SWITCHOVER_DOCUMENT): string {
  return `${prefix}-${action}`;
}

/** The Command documents of every host action, keyed by action. */
export function commandDocuments(options: CommandDocumentOptions = {}): Record<SsmAction, CommandDocument> {
  const prefix = options.prefix ?? DEFAULT_DOCUMENT_PREFIX;
  const agent = options.agentCommand ?? 'pgvigil-agent';
  const configFile = options.configFile ?? DEFAULT_CONFIG_FILE;
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(prefix) || /^(aws|amazon|amzn)/i.test(prefix)) {
    throw new Error(`SSM document prefix "${prefix}" is not valid: use 1-100 of A-Z a-z 0-9 _ . - and do not start with aws/amazon/amzn`);
  }
  if (!/^[A-Za-z0-9_./-]+$/.test(agent)) throw new Error(`agent command "${agent}" is not valid: a plain path or name is expected`);
  const result = {} as Record<SsmAction, CommandDocument>;
  for (const action of SSM_ACTIONS) {
    const host = HOST_ACTIONS[action];
    const names = SSM_DOCUMENT_PARAMETERS[host];
    const parameters: Record<string, DocumentParameter> = {};
    for (const name of names) {
      const fallback = name === 'ConfigFile' ? configFile : SSM_OPTIONAL_PARAMETERS[name];
      parameters[name] = {
        type: 'String',
        description: PARAMETER_DESCRIPTIONS[name],
        allowedPattern: SSM_PARAMETER_PATTERNS[name],
        ...(fallback !== undefined ? { default: fallback } : {}),
      };
    }
    const prelude: string[] = [];
    const args = [agent, SSM_AGENT_COMMANDS[host], '-f', '"$conf"', "--term '{{Term}}'"];
    if (names.includes('UpstreamNodeId')) args.push("--upstream-node-id '{{UpstreamNodeId}}'");
    if (names.includes('ForceRewind')) {
      prelude.push('rewind=', "if [ '{{ForceRewind}}' = 'true' ]; then rewind=--force-rewind; fi");
      args.push('$rewind');
    }
    if (names.includes('ServiceAction')) args.push("--action '{{ServiceAction}}'");
    if (names.includes('Checkpoint')) {
      prelude.push('checkpoint=', "if [ '{{Checkpoint}}' = 'true' ]; then checkpoint=--checkpoint; fi");
      args.push('$checkpoint');
    }
    if (names.includes('Force')) {
      prelude.push('force=', "if [ '{{Force}}' = 'true' ]; then force=--force; fi");
      args.push('$force');
    }
    const text = ACTION_TEXT[action];
    result[action] = {
      action,
      name: documentName(prefix, action),
      agentAction: SSM_AGENT_COMMANDS[host],
      content: {
        schemaVersion: '2.2',
        description: `pgvigil: ${text.description} Runs \`${agent} ${SSM_AGENT_COMMANDS[host]}\`.`,
        parameters,
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: `pgvigil${action}`,
            inputs: {
              timeoutSeconds: String(text.timeoutSeconds),
              runCommand: ['#!/bin/sh', 'set -eu', ...GUARD, ...prelude, `exec ${args.join(' ')}`],
            },
          },
        ],
      },
    };
  }
  return result;
}

export interface AutomationDocumentContent {
  schemaVersion: '0.3';
  description: string;
  assumeRole: '{{AutomationAssumeRole}}';
  parameters: Record<string, DocumentParameter>;
  mainSteps: Array<Record<string, unknown>>;
  outputs: string[];
}

/**
 * The manual switchover (docs/controller.md): an Automation document that invokes the switchover function
 * synchronously with `{cluster_id, candidate_node_id, siblings_follow, dry_run}`.
 */
export function switchoverAutomationContent(functionName: string, assumeRoleArn: string): AutomationDocumentContent {
  return {
    schemaVersion: '0.3',
    description:
      'pgvigil: planned switchover (repmgr standby switchover): demote the primary, promote the candidate, move the Elastic IP, ' +
      'rejoin the old primary; DryRun=true only runs the checks.',
    assumeRole: '{{AutomationAssumeRole}}',
    parameters: {
      ClusterId: { type: 'String', description: 'cluster_id', allowedPattern: PARAMETER_PATTERNS.ClusterId },
      CandidateNodeId: { type: 'String', description: 'node_id of the standby to promote', allowedPattern: PARAMETER_PATTERNS.CandidateNodeId },
      SiblingsFollow: {
        type: 'String',
        description: 'make the other standbys follow the new primary (true|false)',
        allowedPattern: PARAMETER_PATTERNS.SiblingsFollow,
        default: 'true',
      },
      DryRun: {
        type: 'String',
        description: 'only run the checks (true|false)',
        allowedPattern: PARAMETER_PATTERNS.DryRun,
        default: 'false',
      },
      AutomationAssumeRole: {
        type: 'String',
        description: 'role Automation assumes to invoke the switchover function',
        allowedPattern: PARAMETER_PATTERNS.AutomationAssumeRole,
        default: assumeRoleArn,
      },
    },
    mainSteps: [
      {
        name: 'switchover',
        action: 'aws:invokeLambdaFunction',
        timeoutSeconds: 900,
        onFailure: 'Abort',
        inputs: {
          FunctionName: functionName,
          InvocationType: 'RequestResponse',
          // Booleans and ids are spliced unquoted: their allowedPatterns admit only digits/true/false.
          Payload:
            '{"cluster_id":"{{ClusterId}}","candidate_node_id":{{CandidateNodeId}},"siblings_follow":{{SiblingsFollow}},"dry_run":{{DryRun}}}',
        },
      },
      {
        // aws:invokeLambdaFunction succeeds whenever the function returns; this step turns a
        // switchover that did not complete (ok=false, or a function error) into a failed execution.
        name: 'checkResult',
        action: 'aws:executeScript',
        isEnd: true,
        inputs: {
          Runtime: 'python3.11',
          Handler: 'check',
          InputPayload: { payload: '{{switchover.Payload}}' },
          Script: [
            'import json',
            'def check(events, context):',
            "    result = json.loads(events['payload'])",
            "    if result.get('ok') is not True:",
            "        raise Exception(result.get('message') or result.get('errorMessage') or 'switchover failed')",
            '    return result',
          ].join('\n'),
        },
      },
    ],
    outputs: ['switchover.Payload'],
  };
}

/**
 * Does what SSM does with a Command document and its parameters: applies defaults, rejects a
 * missing, unknown or pattern-violating parameter (naming it), substitutes `{{Name}}`, and returns
 * the script of the document's step. The sandbox runs this script on the target host.
 */
export function renderCommandScript(content: CommandDocumentContent, parameters: Record<string, string>): string {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of Object.keys(parameters)) {
    if (!(name in content.parameters)) problems.push(`unknown parameter ${name}`);
  }
  for (const [name, spec] of Object.entries(content.parameters)) {
    const value = parameters[name] ?? spec.default;
    if (value === undefined) problems.push(`missing parameter ${name}`);
    else if (!new RegExp(spec.allowedPattern).test(value)) {
      problems.push(`parameter ${name} value ${JSON.stringify(value)} does not match ${spec.allowedPattern}`);
    } else values[name] = value;
  }
  if (problems.length > 0) throw new Error(`SSM parameters rejected: ${problems.join('; ')}`);
  const lines = content.mainSteps.flatMap((s) => s.inputs.runCommand);
  return lines.map((line) => line.replace(/\{\{\s*([A-Za-z0-9]+)\s*\}\}/g, (m, n: string) => values[n] ?? m)).join('\n') + '\n';
}
