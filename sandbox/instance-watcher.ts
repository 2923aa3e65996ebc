/**
 * EC2's StopInstances made real in the sandbox: moto only records the new state, so this watcher
 * reads the instances' states (DescribeInstances, every 500 ms by default) and, when an instance
 * leaves `running`, stops every process of its host (`Supervisor.killHost`), as EC2 would. The
 * controller can then use the real EC2 fencer (adapters/ec2-fencer.ts) from a process of its own.
 *
 * {@link InstanceWatcher.ensureRunning} is the way back: StartInstances for a host the sandbox
 * brings up again (a healed drill), so a later fence of it stops it again. An instance that someone
 * else starts (the controller, for auto_rejoin) boots its host as EC2 would (`bootHost`).
 */
import { DescribeInstancesCommand, StartInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';

export interface InstanceWatcherOptions {
  ec2: EC2Client;
  /** Host name → instance id. */
  instances: Record<string, string>;
  /** Stops every process of a host (the supervisor's killHost). */
  stopHost: (host: string) => Promise<unknown>;
  /** True when the host is stopped already. */
  isHostDown: (host: string) => boolean;
  /** What the host does when its instance starts again: systemd's units (not awaited by the poll). */
  bootHost?: (host: string) => Promise<unknown>;
  onBoot?: (host: string) => void;
  /** @default 500 (each read is a request the emulator serves besides the cluster's own) */
  pollIntervalMs?: number;
  onStop?: (host: string, state: string) => void;
}

const STOPPED = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);

export class InstanceWatcher {
  private readonly states = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private polling: Promise<void> | null = null;
  /** Hosts the sandbox itself is starting (ensureRunning): it brings their processes up. */
  private readonly reviving = new Set<string>();

  constructor(private readonly options: InstanceWatcherOptions) {}

  async start(): Promise<void> {
    this.running = true;
    await this.poll();
    this.schedule();
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedule();
      });
    }, this.options.pollIntervalMs ?? 500);
  }

  private async read(): Promise<Map<string, string>> {
    const ids = Object.values(this.options.instances);
    const out = await this.options.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }), { abortSignal: AbortSignal.timeout(2000) });
    const states = new Map<string, string>();
    for (const r of out.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId && i.State?.Name) states.set(i.InstanceId, i.State.Name);
    return states;
  }

  private async poll(): Promise<void> {
    let states: Map<string, string>;
    try {
      states = await this.read();
    } catch {
      return; // the emulator is slow or stopped (a chaos fault): the next poll reads again
    }
    for (const [host, id] of Object.entries(this.options.instances)) {
      const now = states.get(id);
      if (!now) continue;
      const before = this.states.get(id);
      this.states.set(id, now);
      if (STOPPED.has(now) && before !== undefined && !STOPPED.has(before) && !this.options.isHostDown(host)) {
        this.options.onStop?.(host, now);
        await this.options.stopHost(host);
      } else if (now === 'running' && before !== undefined && STOPPED.has(before) && !this.reviving.has(host) && this.options.isHostDown(host) && this.options.bootHost) {
        // Not awaited: the boot starts processes that may wait for this watcher (ensureRunning).
        this.options.onBoot?.(host);
        this.reviving.add(host);
        void this.options
          .bootHost(host)
          .catch(() => undefined)
          .finally(() => this.reviving.delete(host));
      }
    }
  }

  /** Reads the instances' states now (an EC2 change went through the AWS proxy), after a poll in flight. */
  async refresh(): Promise<void> {
    await this.polling;
    if (this.running) await this.poll();
  }

  /** Starts the host's instance again when it is not running, and waits until moto says it runs. */
  async ensureRunning(host: string, timeoutMs = 30_000): Promise<void> {
    const id = this.options.instances[host];
    if (!id) return;
    const booting = this.reviving.has(host);
    this.reviving.add(host);
    try {
      await this.polling;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const state = (await this.read()).get(id);
        if (state === 'running') {
          this.states.set(id, state);
          return;
        }
        if (state === 'stopped') await this.options.ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
        if (Date.now() > deadline) throw new Error(`instance ${id} of ${host} is still ${state ?? 'unknown'} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      if (!booting) this.reviving.delete(host);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
  }
}
