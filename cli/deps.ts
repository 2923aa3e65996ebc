/**
 * What the `pgvigil` commands need of their program (`ctx.deps`), built once by the entry point
 * (cli/main.ts, `cliDeps`); tests build theirs through the same factory with overrides.
 */
import type { HostActionDeps } from '../agent/commands.js';
import type { HostCommands } from '../core/ports.js';
import type { SwitchoverRequest, SwitchoverResponse } from '../functions/switchover.js';
import type { CliTarget } from './context.js';

/** Starts the switchover (or its dry run) and resolves with the entry point's response. */
export interface SwitchoverInvoker {
  /** How the switchover is run, for the progress display ("in this process", "Lambda f"). */
  readonly description: string;
  invoke(request: SwitchoverRequest): Promise<SwitchoverResponse>;
}

/** How a command reaches the switchover entry point (cli/switchover.ts builds the real ones). */
export type InvokerFactory = (target: CliTarget, env: NodeJS.ProcessEnv) => SwitchoverInvoker | Promise<SwitchoverInvoker>;

/** How operator commands reach another node's host (SSM Run Command; the sandbox's runner in tests). */
export type HostCommandsFactory = (target: CliTarget, env: NodeJS.ProcessEnv) => HostCommands | Promise<HostCommands>;

export interface CliDeps extends HostActionDeps {
  switchover: InvokerFactory;
  hostCommands: HostCommandsFactory;
}
