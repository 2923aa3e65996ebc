/**
 * Packet loss and delay on one sandbox host's link, both directions. This machine's kernel has no
 * netem qdisc (`tc qdisc … netem` is refused), so the rules are iptables' in the host's own network
 * namespace: loss with the `statistic` match, delay by queueing every packet of `eth0`
 * (NFQUEUE, with bypass: if the reader dies, packets flow) to a small reader that holds each for
 * the delay (sandbox/chaos/nfqueue_delay.py, started inside the namespace).
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PgvigilError } from '../../core/errors.js';
import { run, type SandboxNetwork } from '../netns.js';

const DELAYER = fileURLToPath(new URL('./nfqueue_delay.py', import.meta.url));
const CHAIN_IN = 'PGVIGIL_CHAOS_IN';
const CHAIN_OUT = 'PGVIGIL_CHAOS_OUT';
const QUEUE = 7;

export interface LinkFault {
  /** Share of packets dropped in each direction, in percent (0-100). */
  lossPercent?: number;
  /** Delay of every packet in each direction. */
  delayMs?: number;
}

/** True when iptables can be run (packet-loss and packet-delay need it). */
export async function haveIptables(): Promise<boolean> {
  try {
    return (await run('iptables', ['--version'], { timeoutMs: 5000 })).code === 0;
  } catch {
    return false;
  }
}

export class LinkFaults {
  private readonly delayers = new Map<string, ChildProcess>();
  private readonly faulted = new Set<string>();

  constructor(private readonly network: SandboxNetwork) {}

  private async iptables(host: string, args: string[], allowFailure = false): Promise<void> {
    const result = await this.network.exec(host, 'iptables', ['-w', ...args], { timeoutMs: 15_000 });
    if (result.code !== 0 && !allowFailure) {
      throw new PgvigilError('SYS_FAILURE', `iptables ${args.join(' ')} failed on ${host}`, { detail: `${result.stderr}${result.stdout}`.trim() });
    }
  }

  /** Puts loss and/or delay on the host's link (replacing what was there). */
  async apply(host: string, fault: LinkFault): Promise<void> {
    if (!this.network.host(host).netns) throw new PgvigilError('BAD_ARGUMENT', 'packet loss and delay need network namespaces (a sandbox run as root)');
    await this.clear(host);
    this.faulted.add(host);
    await this.iptables(host, ['-N', CHAIN_IN]);
    await this.iptables(host, ['-N', CHAIN_OUT]);
    await this.iptables(host, ['-I', 'INPUT', '-i', 'eth0', '-j', CHAIN_IN]);
    await this.iptables(host, ['-I', 'OUTPUT', '-o', 'eth0', '-j', CHAIN_OUT]);
    if (fault.lossPercent) {
      const p = String(Math.min(1, Math.max(0, fault.lossPercent / 100)));
      for (const chain of [CHAIN_IN, CHAIN_OUT]) await this.iptables(host, ['-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP']);
    }
    if (fault.delayMs) {
      await this.startDelayer(host, fault.delayMs);
      for (const chain of [CHAIN_IN, CHAIN_OUT]) await this.iptables(host, ['-A', chain, '-j', 'NFQUEUE', '--queue-num', String(QUEUE), '--queue-bypass']);
    }
  }

  private async startDelayer(host: string, delayMs: number): Promise<void> {
    const child = this.network.spawnIn(host, 'python3', [DELAYER, String(QUEUE), String(Math.round(delayMs))], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.delayers.set(host, child);
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PgvigilError('SYS_FAILURE', `the packet delayer did not start on ${host} within 10 s`, { detail: output })), 10_000);
      const done = (error?: Error): void => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('nfqueue_delay:')) done();
      });
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', (code) => done(new PgvigilError('SYS_FAILURE', `the packet delayer on ${host} exited (${code})`, { detail: output.trim() })));
      child.once('error', (error) => done(error));
    });
  }

  /** Removes the host's loss and delay. */
  async clear(host: string): Promise<void> {
    if (this.faulted.delete(host)) {
      await this.iptables(host, ['-D', 'INPUT', '-i', 'eth0', '-j', CHAIN_IN], true);
      await this.iptables(host, ['-D', 'OUTPUT', '-o', 'eth0', '-j', CHAIN_OUT], true);
      for (const chain of [CHAIN_IN, CHAIN_OUT]) {
        await this.iptables(host, ['-F', chain], true);
        await this.iptables(host, ['-X', chain], true);
      }
    }
    const delayer = this.delayers.get(host);
    this.delayers.delete(host);
    if (delayer && delayer.exitCode === null && delayer.signalCode === null) {
      const exited = new Promise((r) => delayer.once('exit', r));
      delayer.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (delayer.exitCode === null) delayer.kill('SIGKILL');
    }
  }

  async clearAll(): Promise<void> {
    for (const host of new Set([...this.faulted, ...this.delayers.keys()])) await this.clear(host);
  }
}
