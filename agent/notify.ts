/**
 * systemd notifications (READY=1, WATCHDOG=1, STOPPING=1) without native modules: Node cannot send
 * unix datagrams, so the message goes through `systemd-notify --pid=<agent pid>` (the unit sets
 * NotifyAccess=all so systemd accepts it). A no-op when NOTIFY_SOCKET is not set.
 */
import { spawn } from 'node:child_process';

export interface Notifier {
  notify(state: string): Promise<void>;
  /** The watchdog interval systemd asked for (WATCHDOG_USEC), in ms; undefined when none. */
  readonly watchdogMs: number | undefined;
}

export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, command = 'systemd-notify'): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const usec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
  return {
    watchdogMs: Number.isFinite(usec) && usec > 0 && watchdogPid === process.pid ? usec / 1000 : undefined,
    async notify(state) {
      if (!socket) return;
      await new Promise<void>((resolve) => {
        const child = spawn(command, [`--pid=${process.pid}`, state], { stdio: 'ignore', env: { ...env, NOTIFY_SOCKET: socket } });
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.on('error', () => {
          clearTimeout(timer);
          resolve();
        });
        child.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
