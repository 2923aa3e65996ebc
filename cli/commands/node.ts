/**
 * `node status` and `node check` for ANY node, judged from its latest heartbeat (`--node-id N`),
 * from anywhere with AWS credentials. On a node itself (its configuration file given with `-f`,
 * PGVIGIL_CONFIG or found in repmgr's default locations, and no `--node-id`) they run the agent's
 * local checks against the live server instead, as repmgr does.
 */
import { CHECKS, heartbeatCheck, nodeCheckExitCode, worstStatus } from '../../core/node-checks.js';
import { clusterShowModel, observeCluster } from '../../core/node-status.js';
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import { nodeCheckCommand as localNodeCheck, nodeStatusCommand as localNodeStatus } from '../../agent/commands.js';
import { defineCommand, opt, type CommandContext, type OptionSpec } from '../../shell/framework.js';
import { clusterOption, configFileFor, findNode, jsonOption, loadCluster, nodeIdOption, openTarget, thisNodeId, type CliTarget } from '../context.js';
import { nodeStatusFacts, renderAllChecks, renderNodeStatus, renderSingleCheck, type CheckResult } from '../../shell/render/node.js';

const nodeIdSpec: Record<string, OptionSpec> = {
  'node-id': { type: 'integer', description: 'the node to report on, from its latest heartbeat (any node, from anywhere)' },
};

/** Local mode: on the node itself, with its configuration file and no --node-id. */
function isLocal(ctx: CommandContext): boolean {
  return opt.integer(ctx, 'node-id') === undefined && configFileFor(ctx) !== undefined;
}

/** --node-id, else the node of the configuration file (this node). */
function requireNodeId(ctx: CommandContext, target: CliTarget): number {
  const id = nodeIdOption(ctx) ?? thisNodeId(target);
  if (id === undefined) {
    throw new PgvigilError('BAD_ARGUMENT', 'no node given', {
      hint: 'give --node-id N to report on a node from its heartbeat, or run on the node with -f CONFIG',
    });
  }
  return id;
}

const checkOptions: Record<string, OptionSpec> = Object.fromEntries(
  CHECKS.map((d) => [d.option, { type: 'boolean', description: `only the "${d.label}" check${d.remote ? '' : ' (local only)'}` } satisfies OptionSpec]),
);

export const nodeCheckCommand = defineCommand({
  words: ['node', 'check'],
  summary: "repmgr's node health checks for any node from its heartbeat (single checks, --nagios, --csv)",
  usage: 'node check (--node-id N | -f CONFIG) [--role|--replication-lag|--upstream|--downstream|…] [--nagios] [--csv] [--json]',
  examples: ['pgvigil node check --node-id=2', 'pgvigil node check --node-id=2 --replication-lag --nagios', 'pgvigil -f /etc/pgvigil/repmgr.conf node check'],
  options: {
    ...nodeIdSpec,
    ...checkOptions,
    nagios: { type: 'boolean', description: 'Nagios plugin output (and exit codes 0-3)' },
    csv: { type: 'boolean', description: 'CSV output' },
    term: { type: 'integer', description: 'local mode: the term the controller sent this check in' },
    ...jsonOption,
    ...clusterOption,
  },
  async run(ctx) {
    const wanted = CHECKS.filter((d) => opt.flag(ctx, d.option));
    if (wanted.length > 1) throw new PgvigilError('BAD_ARGUMENT', 'only one single check may be given at a time');
    const single = wanted[0];
    if (isLocal(ctx) && single?.option !== 'agent') return localNodeCheck.run(ctx);
    const { snapshot, node, now, obs } = await loadNodeView(ctx);
    const defs = single ? [single] : CHECKS.filter((d) => d.remote);
    const results: CheckResult[] = defs.map((def) => ({ def, outcome: heartbeatCheck(def.option, obs, snapshot.nodes, snapshot.cluster.settings) }));
    const worst = worstStatus(results.map((r) => r.outcome.status));
    const format = opt.flag(ctx, 'nagios') ? 'nagios' : opt.flag(ctx, 'csv') ? 'csv' : 'text';
    const code = nodeCheckExitCode(worst, single !== undefined || format === 'nagios');
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(
        JSON.stringify(
          {
            node_id: node.node_id,
            node_name: node.node_name,
            status: worst,
            checks: results.map((r) => ({ check: r.def.option, label: r.def.label, nagios: r.def.nagios, ...r.outcome })),
          },
          null,
          2,
        ),
      );
      return code;
    }
    const first = results[0];
    if (single && first) ctx.out.print(renderSingleCheck(first, format));
    else for (const line of renderAllChecks(node, results, format, worst)) ctx.out.print(line);
    if (!single && format === 'text') for (const w of clusterShowModel(snapshot, now).warnings) ctx.out.warning(w);
    return code;
  },
});

/** The cluster, the node the command is about, and what its heartbeat says, on the CLI's clock. */
async function loadNodeView(ctx: CommandContext) {
  nodeIdOption(ctx); // a bad --node-id is refused before any AWS call
  const target = await openTarget(ctx);
  const nodeId = requireNodeId(ctx, target);
  const { snapshot } = await loadCluster(target);
  const node = findNode(snapshot, { nodeId });
  const now = target.now();
  const obs = observeCluster(snapshot, now).find((o) => o.node.node_id === node.node_id);
  if (!obs) throw new PgvigilError('INTERNAL', `node ${nodeId} vanished from its own snapshot`);
  return { snapshot, node, now, obs };
}

export const nodeStatusCommand = defineCommand({
  words: ['node', 'status'],
  summary: "overview of a node's state and replication, from its latest heartbeat",
  usage: 'node status (--node-id N | -f CONFIG) [--csv] [--json]',
  examples: ['pgvigil node status --node-id=1', 'pgvigil -f /etc/pgvigil/repmgr.conf node status'],
  options: { ...nodeIdSpec, csv: { type: 'boolean', description: 'CSV output' }, ...jsonOption, ...clusterOption },
  async run(ctx) {
    if (isLocal(ctx) && !opt.flag(ctx, 'json')) return localNodeStatus.run(ctx);
    const { snapshot, node, now, obs } = await loadNodeView(ctx);
    const model = clusterShowModel(snapshot, now);
    const row = model.rows.find((r) => r.node_id === node.node_id);
    if (!row) throw new PgvigilError('INTERNAL', `node ${node.node_id} vanished from its own snapshot`);
    const label = `"${node.node_name}" (ID: ${node.node_id})`;
    const issues = model.issues.filter((i) => i.includes(label));
    const facts = nodeStatusFacts(obs, row, snapshot.nodes);
    const code = issues.length > 0 ? ExitCode.ERR_NODE_STATUS : ExitCode.SUCCESS;
    if (opt.flag(ctx, 'json')) {
      ctx.out.print(JSON.stringify({ node_id: node.node_id, node_name: node.node_name, facts: Object.fromEntries(facts), row, issues }, null, 2));
      return code;
    }
    for (const line of renderNodeStatus(node, facts, opt.flag(ctx, 'csv') ? 'csv' : 'text')) ctx.out.print(line);
    for (const issue of issues) ctx.out.warning(issue);
    return code;
  },
});
