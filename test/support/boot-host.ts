/**
 * Emulated EC2 hosts for the example stack's boot test (docs/deploy.md, "The boot test"): each is a
 * network namespace of the sandbox kind (sandbox/netns.ts) that also carries its instance's private
 * address from the emulator, an instance metadata service on 169.254.169.254, and a filesystem of its
 * own (overlays, see boot-host/boot.sh) in which `dnf`, `systemctl`, `sudo` and `aws` are the shims in
 * boot-host/. Its user data then runs for real, as cloud-init would run it.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxNetwork, run } from '../../sandbox/netns.js';

const SHIMS = join(dirname(fileURLToPath(import.meta.url)), 'boot-host');

/** The instance an emulated host stands for, as the emulator describes it. */
export interface BootInstance {
  /** Host (and namespace) name, e.g. `pg1`. */
  name: string;
  instanceId: string;
  privateIp: string;
  availabilityZone: string;
  region: string;
  /** The instance's user data, decoded: what cloud-init runs at first boot. */
  userData: string;
}

/** One line of the systemctl shim's event log (boot-host/systemctl.py). */
export interface UnitEvent {
  unit: string;
  event: 'ran' | 'active' | 'started' | 'ready' | 'exited';
  pid?: number;
  argv?: string[];
  code?: number;
}

export interface BootedHost {
  instance: BootInstance;
  /** The boot (boot.sh, then the user data): resolves with its exit code. */
  finished: Promise<number | null>;
  /** A file of the host's own filesystem as the host wrote it (its overlay's upper layer), or undefined. */
  file(path: string): string | undefined;
  /** Where a symbolic link of the host's own filesystem points, or undefined when there is none. */
  link(path: string): string | undefined;
  /** The systemctl shim's events on this host. */
  unitEvents(): UnitEvent[];
  /** What a failed wait shows: the end of the bootstrap log and of the agent's journal. */
  diagnostics(): string;
}

/**
 * The Amazon Linux 2023 image's PostgreSQL unit, in the form the shim runs: as postgres, with the
 * data directory the example stack uses; the boot guard's drop-in adds its ExecStartPre.
 */
const POSTGRESQL_UNIT = `[Unit]
Description=PostgreSQL database server
After=network.target

[Service]
Type=forking
User=postgres
Group=postgres
Environment=PGDATA=/var/lib/pgsql/data
ExecStart=/usr/bin/pg_ctl start -D \${PGDATA} -s -w -t 120 -l /var/lib/pgsql/logfile
TimeoutSec=300

[Install]
WantedBy=multi-user.target
`;

/** The Python that has the emulator installed (so also boto3, which the aws shim uses). */
async function emulatorPython(): Promise<string> {
  const result = await run('python3', ['-c', 'import sys, boto3; print(sys.executable)'], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`boot hosts: python3 with boto3 (moto's dependency) is needed: ${result.stderr}`);
  return result.stdout.trim();
}

export class BootHosts {
  private readonly processes: ChildProcess[] = [];

  private constructor(
    readonly dir: string,
    readonly network: SandboxNetwork,
    private readonly python: string,
  ) {}

  /** A bridge for the hosts (netns mode: needs root) with its state in `dir`. */
  static async create(dir: string): Promise<BootHosts> {
    const python = await emulatorPython();
    const network = await SandboxNetwork.create({ dir: join(dir, 'network'), mode: 'netns' });
    return new BootHosts(dir, network, python);
  }

  /** Where services in the root namespace listen so the hosts reach them (the emulator). */
  get gateway(): string {
    return this.network.gateway;
  }

  /**
   * Creates the host of `instance` and starts its boot; `awsEndpoint` is where its AWS calls go (the
   * VPC endpoints of the real stack).
   */
  async boot(instance: BootInstance, awsEndpoint: string): Promise<BootedHost> {
    const root = join(this.dir, 'hosts', instance.name);
    const upper = (path: string): string => join(root, 'upper', path);
    for (const layer of ['etc', 'usr', 'var', 'opt']) {
      mkdirSync(join(root, 'upper', layer), { recursive: true });
      mkdirSync(join(root, 'work', layer), { recursive: true });
    }
    chmodSync(this.dir, 0o755);
    const put = (path: string, content: string, mode = 0o644): void => {
      mkdirSync(dirname(upper(path)), { recursive: true });
      writeFileSync(upper(path), content, { mode });
    };
    put('usr/lib/systemd/system/postgresql.service', POSTGRESQL_UNIT);
    put('etc/systemd/system.conf.d/boot-test.conf', `[Manager]\nDefaultEnvironment=AWS_ENDPOINT_URL=${awsEndpoint}\n`);
    put('var/lib/cloud/instance/user-data.txt', instance.userData, 0o700);
    for (const shim of ['dnf', 'sudo']) {
      mkdirSync(upper('usr/bin'), { recursive: true });
      copyFileSync(join(SHIMS, shim), upper(`usr/bin/${shim}`));
      chmodSync(upper(`usr/bin/${shim}`), 0o755);
    }
    for (const shim of ['systemctl', 'aws']) {
      const source = readFileSync(join(SHIMS, `${shim}.py`), 'utf8').replace(/^#!.*\n/, `#!${this.python}\n`);
      put(`usr/bin/${shim}`, source, 0o755);
    }

    const host = await this.network.addHost(instance.name);
    const ip = async (args: string[]): Promise<void> => {
      const result = await this.network.exec(instance.name, 'ip', args, { timeoutMs: 10_000 });
      if (result.code !== 0) throw new Error(`boot hosts: ip ${args.join(' ')} on ${instance.name}: ${result.stderr}`);
    };
    // The instance's own address, on the VPC's /16 as in the stack (10.42.0.0/16): the hosts reach
    // each other by it directly over the bridge, and pg_hba's VPC range matches them.
    await ip(['addr', 'add', `${instance.privateIp}/16`, 'dev', 'eth0']);
    await ip(['addr', 'add', '169.254.169.254/32', 'dev', 'lo']);
    const imdsLog = openSync(join(root, 'imds.log'), 'a');
    const metadata = JSON.stringify({
      'instance-id': instance.instanceId,
      'local-ipv4': instance.privateIp,
      'availability-zone': instance.availabilityZone,
      region: instance.region,
      role: 'pgvigil-boot-test-node-role',
    });
    const imds = this.network.spawnIn(instance.name, this.python, [join(SHIMS, 'imds.py'), metadata], { stdio: ['ignore', imdsLog, imdsLog] });
    closeSync(imdsLog);
    this.processes.push(imds);
    await this.waitForMetadataService(instance.name);

    const bootLog = openSync(join(root, 'boot.log'), 'a');
    const boot = this.network.spawnIn(instance.name, 'unshare', ['--mount', '--propagation', 'private', 'bash', join(SHIMS, 'boot.sh'), root, awsEndpoint], {
      stdio: ['ignore', bootLog, bootLog],
    });
    closeSync(bootLog);
    this.processes.push(boot);
    const finished = new Promise<number | null>((resolve) => boot.once('exit', (code) => resolve(code)));
    const file = (path: string): string | undefined => (existsSync(upper(path)) ? readFileSync(upper(path), 'utf8') : undefined);
    const tail = (text: string | undefined, lines: number): string => (text ?? '(none)').split('\n').slice(-lines).join('\n');
    return {
      instance,
      finished,
      file,
      link: (path: string): string | undefined => (lstatSync(upper(path), { throwIfNoEntry: false })?.isSymbolicLink() ? readlinkSync(upper(path)) : undefined),
      unitEvents: () => (file('var/log/systemd-shim/events.jsonl') ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l) as UnitEvent),
      diagnostics: () =>
        [
          `== ${host.name} (${instance.privateIp}) boot.sh:`,
          tail(existsSync(join(root, 'boot.log')) ? readFileSync(join(root, 'boot.log'), 'utf8') : undefined, 10),
          '-- /var/log/pgvigil-bootstrap.log:',
          tail(file('var/log/pgvigil-bootstrap.log'), 25),
          '-- /var/log/journal/pgvigil-agent.service.log:',
          tail(file('var/log/journal/pgvigil-agent.service.log'), 15),
        ].join('\n'),
    };
  }

  private async waitForMetadataService(name: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const probe = await this.network.exec(name, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://169.254.169.254/latest/meta-data/'], { timeoutMs: 5_000 });
      if (probe.stdout === '401') return; // up, and refusing a request without a token
      if (Date.now() > deadline) throw new Error(`boot hosts: the metadata service of ${name} did not start (${probe.stdout} ${probe.stderr})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Ends every process of the hosts (what runs in their namespaces: the boots, the metadata services,
   * PostgreSQL, the agents) and removes the namespaces and the bridge.
   */
  async destroy(): Promise<void> {
    for (const child of this.processes) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await this.network.destroy();
  }
}
