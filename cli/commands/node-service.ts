/**
 * `node service --action reload|restart|stop|start` (repmgr's `node service`). On the node itself
 * (its configuration file, no `--node-id`) it is the agent's host action; with `--node-id N` it is
 * the same action carried out on that node's instance through SSM Run Command (the NodeService
 * document), from anywhere with AWS credentials. Either way the agent on the node decides, so the
 * primary's guard (docs/operations.md, "Restarts") holds both ways.
 */
import { ExitCode } from '../../core/exit-codes.js';
import { PgvigilError } from '../../core/errors.js';
import { nodeLabel } from '../../core/node-status.js';
import { nodeServiceCommand as localNodeService } from '../../agent/commands.js';
import { defineCommand, opt } from '../../shell/framework.js';
import { clusterOption, configFileFor, findNode, loadCluster, nodeIdOption, openTarget } from '../context.js';
import type { CliDeps } from '../deps.js';

export const nodeServiceCommand = defineCommand<CliDeps>({
  words: ['node', 'service'],
  summary: "reload, restart, stop or start a node's PostgreSQL server: on the node, or on any node through SSM (--node-id)",
  usage: 'node service --action reload|restart|stop|start (--node-id N | -f CONFIG) [--checkpoint] [--dry-run] [-F] [--wait-timeout SECS] [--cluster ID]',
  examples: [
    'pgvigil -f /etc/pgvigil/repmgr.conf node service --action reload',
    'pgvigil node service --node-id 2 --action restart --checkpoint',
    'pgvigil node service --node-id 2 --action restart --dry-run',
  ],
  options: {
    action: { type: 'string', description: 'reload, restart, stop or start' },
    'node-id': { type: 'integer', description: 'act on this node through SSM Run Command (else: this node, from -f CONFIG)' },
    checkpoint: { type: 'boolean', description: 'CHECKPOINT before a stop or restart' },
    'dry-run': { type: 'boolean', description: 'check and say what would be done; change nothing' },
    force: { type: 'boolean', short: 'F', description: 'stop or restart even the primary (automatic failover is paused meanwhile)' },
    'wait-timeout': { type: 'integer', description: 'with --node-id: wait at most SECS for the command (default 660)' },
    term: { type: 'integer', description: 'local mode: the term the controller sent this action in' },
    ...clusterOption,
  },
  async run(ctx) {
    const nodeId = nodeIdOption(ctx);
    if (nodeId === undefined && configFileFor(ctx) !== undefined) return localNodeService.run(ctx);
    const options = { action: opt.requiredString(ctx, 'action'), checkpoint: opt.flag(ctx, 'checkpoint'), dryRun: opt.flag(ctx, 'dry-run'), force: opt.flag(ctx, 'force') };
    const { checkServiceOptions } = await import('../../agent/actions/service.js');
    const action = checkServiceOptions(options);
    const waitSecs = opt.integer(ctx, 'wait-timeout') ?? 660;
    if (waitSecs < 1) throw new PgvigilError('BAD_ARGUMENT', `option --wait-timeout expects seconds (1 or more), got ${waitSecs}`);
    if (nodeId === undefined) {
      throw new PgvigilError('BAD_ARGUMENT', 'no node given', { hint: 'give --node-id N to act on a node through SSM Run Command, or run on the node with -f CONFIG' });
    }
    const target = await openTarget(ctx);
    const { snapshot } = await loadCluster(target);
    const node = findNode(snapshot, { nodeId });
    const primary = snapshot.cluster.primary_node_id === node.node_id;
    if (!node.instance_id) {
      throw new PgvigilError('BAD_ARGUMENT', `${nodeLabel(node)} has no EC2 instance registered: SSM Run Command cannot reach it`, {
        hint: 'run "pgvigil node service" on the node itself with -f CONFIG',
      });
    }
    if (options.dryRun) {
      if (primary && (action === 'stop' || action === 'restart') && !options.force) {
        ctx.out.error(`${nodeLabel(node)} is the primary: "node service --action ${action}" is refused without --force`);
        ctx.out.hint('use "pgvigil cluster restart --rolling", or switch over first');
        return ExitCode.ERR_BAD_CONFIG;
      }
      ctx.out.info(`would send "node service --action ${action}${options.checkpoint ? ' --checkpoint' : ''}${options.force ? ' --force' : ''}" to ${nodeLabel(node)} on ${node.instance_id} (SSM Run Command)`);
      ctx.out.info(`prerequisites for executing "node service --action ${action}" are met`);
      return ExitCode.SUCCESS;
    }
    const { runOnNode } = await import('../host-commands.js');
    const result = await runOnNode(
      await ctx.deps.hostCommands(target, target.env),
      ctx.out,
      node,
      {
        action: 'node-service',
        clusterId: target.clusterId,
        nodeId: node.node_id,
        term: snapshot.cluster.term,
        serviceAction: action,
        checkpoint: options.checkpoint,
        force: options.force,
        ...(node.config_file ? { configFile: node.config_file } : {}),
      },
      waitSecs * 1000,
    );
    if (result.status === 'Success') return ExitCode.SUCCESS;
    ctx.out.error(`node service --action ${action} on ${nodeLabel(node)} did not succeed: SSM status ${result.status}`);
    // The agent's own exit code when it ran (repmgr's codes), else ERR_LOCAL_COMMAND.
    return result.exitCode !== null && result.exitCode > 0 ? result.exitCode : ExitCode.ERR_LOCAL_COMMAND;
  },
});
