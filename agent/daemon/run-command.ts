/** `pgvigil-agent run -f repmgr.conf`: the daemon until SIGINT or SIGTERM, both through one quit path. */
import { defineCommand } from '../../shell/framework.js';
import { actionContext, hostClusterOption } from '../commands.js';
import { jsonLogger } from '../log.js';
import { systemdNotifier } from '../notify.js';
import { createLeaseStore } from '../store.js';
import { AgentDaemon } from './daemon.js';

export const runCommand = defineCommand({
  words: ['run'],
  summary: 'run the agent daemon (monitoring, heartbeats, lease) until SIGINT/SIGTERM',
  usage: 'run -f CONFIG',
  examples: ['pgvigil-agent run -f /etc/pgvigil/repmgr.conf'],
  options: { ...hostClusterOption },
  async run(ctx) {
    const a = await actionContext(ctx);
    const log = jsonLogger({ level: a.config.log_level, file: a.config.log_file || undefined, base: { node_id: a.config.node_id } });
    const daemon = new AgentDaemon({ config: a.config, store: a.store, leaseStore: createLeaseStore(a.config, ctx.env), log, notifier: systemdNotifier(ctx.env) });
    let quit: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (quit = resolve));
    const onSignal = (signal: NodeJS.Signals): void => quit(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await daemon.start();
      const signal = await stopped;
      await daemon.stop(`received ${signal}`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  },
});
