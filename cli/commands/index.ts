/**
 * Every `pgvigil` command. Each command lives in its own file under cli/commands/ and is listed
 * here once; the order is the order of `pgvigil --help`.
 */
import type { Command } from '../../shell/framework.js';
import { versionCommand } from './version.js';
import { configCheckCommand } from './config-check.js';
import { clusterShowCommand } from './cluster-show.js';
import { clusterListCommand } from './cluster-list.js';
import { clusterUriCommand } from './cluster-uri.js';
import { clusterEventCommand } from './cluster-event.js';
import { clusterCleanupCommand } from './cluster-cleanup.js';
import { clusterCrosscheckCommand, clusterMatrixCommand } from './cluster-matrix.js';
import { clusterExplainCommand } from './cluster-explain.js';
import { nodeCheckCommand, nodeStatusCommand } from './node.js';
import { standbySwitchoverCommand } from './standby-switchover.js';
import { clusterFailoverCommand, standbyPromoteCommand } from './standby-promote.js';
import { clusterCancelSwitchoverCommand } from './switchover-schedule.js';
import { servicePauseCommand, serviceStatusCommand, serviceUnpauseCommand } from './service.js';
import { hostActionCommands } from '../../agent/commands.js';
import { sandboxDownCommand, sandboxStatusCommand, sandboxUpCommand } from './sandbox.js';
import { sandboxDrillCommand } from './sandbox-drill.js';
import { sandboxChaosCommand } from './sandbox-chaos.js';

export const commands: Command[] = [
  versionCommand,
  configCheckCommand,
  clusterShowCommand,
  clusterListCommand,
  clusterUriCommand,
  clusterEventCommand,
  clusterMatrixCommand,
  clusterCrosscheckCommand,
  clusterCleanupCommand,
  clusterExplainCommand,
  nodeStatusCommand,
  nodeCheckCommand,
  standbySwitchoverCommand,
  standbyPromoteCommand,
  clusterFailoverCommand,
  clusterCancelSwitchoverCommand,
  serviceStatusCommand,
  servicePauseCommand,
  serviceUnpauseCommand,
  sandboxUpCommand, sandboxDownCommand, sandboxStatusCommand,
  sandboxDrillCommand,
  sandboxChaosCommand,
];
// The agent's host actions under the same words (`pgvigil promote …`), except words already taken above.
commands.push(...hostActionCommands.filter((h) => !commands.some((c) => c.words.join(' ') === h.words.join(' '))));
