/**
 * Brings the sandbox up and down (docs/sandbox.md): network and hosts, moto with the control
 * plane deployed into it, EC2 instances for the hosts, a PostgreSQL 15 primary and two standbys
 * cloned by the agent's own `standby clone`, a witness, every node registered, the agents under
 * the supervisor, and the Elastic IP as a local proxy.
 *
 * The controller is the sandbox's own by default (sandbox/controller.ts: the Lambda handlers on a
 * local runtime); {@link SandboxOptions.startController} replaces it or turns it off, and then the
 * cluster runs and reports, but nobody fails over.
 *
 * Its parts live beside it: the state file (sandbox/state.ts), emulated AWS (sandbox/emulated-aws.ts),
 * the load balancer's routes and the alarms (sandbox/stack-services.ts), and the teardown that works
 * from the directory alone (sandbox/teardown.ts). Everything created is recorded in the sandbox
 * directory as it is created (network.json, processes.json, sandbox.json), so {@link sandboxDown}
 * cleans up after a crash too.
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoStateStore } from '../adapters/dynamo-state-store.js';
import { Ec2VipMover } from '../adapters/ec2-vip.js';
import { PgvigilError } from '../core/errors.js';
import { deployToEmulator, type EmulatorDeployment } from './deploy-to-emulator.js';
import { ARTIFACTS, builtArtifact } from '../build/artifacts.js';
import type { CommandDocumentContent } from '../infra/ssm-documents.js';
import { parseOverrides, planCluster, writePlanFiles, type ClusterPlan, type PlanNode } from './cluster-plan.js';
import { SandboxNetwork, type ExecResult } from './netns.js';
import { PostgresServer } from './postgres.js';
import { lookupOsUser, runAs, type OsUser } from '../shell/run-as.js';
import { SandboxHostCommands, SandboxInstanceFencer, type RunnerTarget } from './ssm-runner.js';
import { Supervisor, procStartTime } from './supervisor.js';
import type { AwsProxyControl } from './aws-proxy.js';
import { InstanceWatcher } from './instance-watcher.js';
import { canListen, freePort } from './ports.js';
import { startSandboxController } from './controller.js';
import { VipProxy, elasticIpResolver } from './vip.js';
import { LATENCY_PROFILES, drawDelay, type LatencyProfile } from './latency.js';
import { serveSwitchoverFunction, type SwitchoverEndpoint } from './switchover-endpoint.js';
import type { AlarmEvaluator } from './alarm-evaluator.js';
import type { NotificationSubscriber } from './notifications.js';
import {
  CONTROL_PLANE_ROUTE,
  SANDBOX_CREDENTIALS,
  SANDBOX_REGION,
  deployedCommandDocuments,
  runInstances,
  startAwsProxy,
  startMoto,
  type EmulatorClientConfig,
} from './emulated-aws.js';
import { stackAlarms, startRoutes, type LoadBalancerRoutes } from './stack-services.js';
import { readSandboxState, writeSandboxState, type SandboxState } from './state.js';
import { postmasterPids, sandboxDown } from './teardown.js';

export { CONTROL_PLANE_ROUTE } from './emulated-aws.js';
export { SANDBOX_ALARM_TIME_SCALE } from './stack-services.js';
export { readSandboxState, type SandboxState } from './state.js';
export { sandboxDown } from './teardown.js';

export interface SandboxOptions {
  /** The sandbox directory (created; must not hold another sandbox). */
  dir: string;
  /** @default 'main' */
  clusterId?: string;
  /** Port of the VIP proxy on 127.0.0.1. @default 6432 */
  vipPort?: number;
  /** `auto` (default): namespaces when root. */
  mode?: 'auto' | 'netns' | 'loopback';
  /** A repmgr.conf fragment overriding cluster-wide keys (`--config`). */
  overrides?: { text: string; file: string };
  /** One line per stage. */
  progress?: (line: string) => void;
  /**
   * Starts the controller and returns how to stop it. Default: the evaluator on the local Lambda
   * runtime ({@link startSandboxController}); `false`: no controller (nobody fails over).
   */
  startController?: false | ((sandbox: Sandbox) => Promise<() => Promise<void>>);
  /** @default 'postgres' */
  osUser?: string;
  /** Where timing matters, behave like AWS (`aws`) or like this machine (`local`, the default). See sandbox/latency.ts. */
  latency?: LatencyProfile;
}

export class Sandbox {
  readonly supervisor: Supervisor;
  plan!: ClusterPlan;
  deployment!: EmulatorDeployment;
  motoEndpoint = '';
  instances: Record<string, string> = {};
  vip: VipProxy | null = null;
  /** The load balancer's writer and reader routes (sandbox/routes.ts); null on loopback. */
  routes: LoadBalancerRoutes | null = null;
  hostCommands!: SandboxHostCommands;
  fencer!: SandboxInstanceFencer;
  ec2!: EC2Client;
  /** The deployed Command documents (what the SSM runners run). */
  documents: Record<string, CommandDocumentContent> = {};
  /** Route name → endpoint of the AWS proxy (every host, and the controller). */
  awsRoutes: Record<string, string> = {};
  /** Sets the AWS proxy's faults (the chaos campaign). */
  awsProxy: AwsProxyControl | null = null;
  private watcher: InstanceWatcher | null = null;
  private stopController: (() => Promise<void>) | null = null;
  /** The switchover function on 127.0.0.1 (Lambda's Invoke protocol), once the controller runs. */
  switchoverEndpoint: SwitchoverEndpoint | null = null;
  /** Where the switchover function will listen: chosen before moto starts, whose Automation invokes it. */
  private switchoverPort = 0;
  /** CloudWatch's alarm evaluation against the emulator (sandbox/alarm-evaluator.ts). */
  alarms: AlarmEvaluator | null = null;
  /** The subscriber to the stack's topic that records the alarms' notifications. */
  notifications: NotificationSubscriber | null = null;
  private alarmClients: { cloudwatch: CloudWatchClient; sns: SNSClient } | null = null;
  private readonly user: OsUser;
  private stopping: Promise<void> | null = null;
  /** Where timing matters, like AWS or like this machine. */
  readonly latency: LatencyProfile;

  private constructor(
    readonly options: SandboxOptions,
    readonly network: SandboxNetwork,
    readonly state: SandboxState,
  ) {
    this.supervisor = new Supervisor(options.dir, network, (s) => {
      if (!s.running && s.lastExit && !this.stopping) this.say(`${s.host}: ${s.name} exited (${s.lastExit.signal ?? `code ${s.lastExit.code}`})`);
    });
    this.user = lookupOsUser(options.osUser ?? 'postgres');
    this.latency = options.latency ?? LATENCY_PROFILES.local;
  }

  get dir(): string {
    return this.options.dir;
  }

  private say(line: string): void {
    this.options.progress?.(line);
  }

  /**
   * The environment of a host's agent and of the SSM commands run on it: `pgvigil-agent` on PATH
   * and the host's own route to emulated AWS (its listener of the AWS proxy).
   */
  hostEnv(name: string): NodeJS.ProcessEnv {
    return {
      PATH: `${join(this.dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: this.user.home,
      USER: this.user.name,
      LC_ALL: 'C',
      AWS_ENDPOINT_URL: this.awsRoutes[name] ?? this.motoEndpoint,
      AWS_REGION: SANDBOX_REGION,
      AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
    };
  }

  /**
   * SDK client settings for the emulator itself, bypassing the AWS proxy: what the sandbox and its
   * observers (drills, the chaos campaign's checkers, the VIP) read with, so injected faults never
   * blur what they see.
   */
  get clientConfig(): EmulatorClientConfig {
    return { endpoint: this.motoEndpoint, region: SANDBOX_REGION, credentials: SANDBOX_CREDENTIALS };
  }

  /** SDK client settings of the control plane (controller, switchover function): its own route. */
  get controlPlaneConfig(): EmulatorClientConfig {
    return { endpoint: this.awsRoutes[CONTROL_PLANE_ROUTE] ?? this.motoEndpoint, region: SANDBOX_REGION, credentials: SANDBOX_CREDENTIALS };
  }

  /** Where an SSM command for a host runs, as whom and with which environment. */
  runnerTarget(name: string): RunnerTarget {
    return { host: name, configFile: this.node(name).configFile, uid: this.user.uid, gid: this.user.gid, env: this.hostEnv(name) };
  }

  /**
   * Starts (or restarts) a host's agent under the supervisor, as `sandbox up` does: restarted
   * when it exits (systemd's Restart=always). A host whose instance was stopped is started again
   * in the emulator first, so a later fence can stop it again.
   */
  async startAgent(name: string): Promise<void> {
    const node = this.node(name);
    await this.reviveHost(name);
    // Already up (a boot of its instance started it meanwhile): systemd would not start it twice.
    if (this.supervisor.status().some((s) => s.host === name && s.name === 'agent' && s.running)) return;
    this.supervisor.start({
      host: name,
      name: 'agent',
      command: join(this.dir, 'bin', 'pgvigil-agent'),
      args: ['run', '-f', node.configFile],
      uid: this.user.uid,
      gid: this.user.gid,
      env: this.hostEnv(name),
      cwd: '/',
      restart: true,
    });
  }

  /**
   * What a host does when its instance starts (EC2 StartInstances by the controller, for
   * auto_rejoin): the example stack's systemd units — PostgreSQL (which the agent's startup rule
   * fences if the cluster has moved on), then the agent.
   */
  async bootHost(name: string): Promise<void> {
    const node = this.node(name);
    if (node.postgres) {
      await this.startPostgres(name).catch((error: unknown) => this.say(`${name}: PostgreSQL did not start at boot: ${(error as Error).message}`));
    }
    await this.startAgent(name);
  }

  /** Starts the host's emulated instance again if it was stopped (StartInstances). */
  async reviveHost(name: string): Promise<void> {
    await this.watcher?.ensureRunning(name);
  }

  node(name: string): PlanNode {
    const node = this.plan.nodes.find((n) => n.node_name === name);
    if (!node) throw new PgvigilError('NOT_FOUND', `sandbox has no node "${name}"`);
    return node;
  }

  /** Runs the agent on a node's host, as the PostgreSQL user, and fails loudly with its output. */
  async agent(name: string, args: string[], timeoutMs = 180_000): Promise<ExecResult> {
    const node = this.node(name);
    const result = await this.network.exec(name, join(this.dir, 'bin', 'pgvigil-agent'), [...args, '-f', node.configFile], {
      uid: this.user.uid,
      gid: this.user.gid,
      env: this.hostEnv(name),
      cwd: '/',
      timeoutMs,
    });
    if (result.code !== 0) {
      // The agent's own ERROR line in the message: a test or a drill report shows the message, not the detail.
      const lines = `${result.stderr}`.split('\n');
      const at = lines.findLastIndex((l) => l.startsWith('ERROR:'));
      const why = at < 0 ? undefined : [lines[at], ...lines.slice(at + 1).filter((l) => l.startsWith('DETAIL:')).slice(0, 6)].join(' | ');
      throw new PgvigilError('SYS_FAILURE', `pgvigil-agent ${args.join(' ')} failed on ${name} (exit ${result.code ?? result.signal})${why ? `: ${why}` : ''}`, {
        detail: `${result.stdout}${result.stderr}`.trim().slice(-4000),
      });
    }
    return result;
  }

  /**
   * Starts (or restarts) PostgreSQL on a node's host, inside its namespace, as the host's
   * postgresql.service does: its drop-in's ExecStartPre, the agent's boot guard (`node startup`,
   * docs/agent.md), first — a former primary the cluster has replaced comes up read-only.
   */
  async startPostgres(name: string): Promise<void> {
    const node = this.node(name);
    await this.agent(name, ['node', 'startup'], 60_000);
    const result = await this.network.exec(
      name,
      join(pgBindir(this.plan), 'pg_ctl'),
      ['-D', node.dataDirectory, '-l', `${node.dataDirectory}.log`, '-w', '-t', '60', 'start'],
      { uid: this.user.uid, gid: this.user.gid, env: { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: '/', timeoutMs: 70_000 },
    );
    if (result.code !== 0) {
      let log = '';
      try {
        log = readFileSync(`${node.dataDirectory}.log`, 'utf8').split('\n').slice(-15).join('\n');
      } catch {
        // no log yet
      }
      throw new PgvigilError('SYS_FAILURE', `could not start PostgreSQL on ${name}`, { detail: `${result.stderr}${result.stdout}\n${log}`.trim() });
    }
  }

  /** Brings a whole sandbox up. On failure everything created so far is torn down. */
  static async up(options: SandboxOptions): Promise<Sandbox> {
    const dir = resolve(options.dir);
    // Bad input changes nothing: the overrides and the directory are checked before anything is made.
    if (options.overrides) parseOverrides(options.overrides.text, options.overrides.file);
    if (readSandboxState(dir)) {
      throw new PgvigilError('CONFLICT', `${dir} already holds a sandbox`, { hint: `run "pgvigil sandbox down --dir ${dir}" first` });
    }
    // The agents and PostgreSQL run as an unprivileged user: it must reach the directory.
    const user = lookupOsUser(options.osUser ?? 'postgres');
    const parent = dirname(dir);
    if ((await runAs('test', ['-d', parent, '-a', '-x', parent], { user })).code !== 0) {
      throw new PgvigilError('BAD_ARGUMENT', `the ${user.name} user cannot reach ${parent}`, {
        hint: 'choose a directory whose every parent the PostgreSQL user may traverse (e.g. under /tmp or /var/tmp)',
      });
    }
    const vipPort = options.vipPort ?? 6432;
    if (vipPort !== 0 && !(await canListen('127.0.0.1', vipPort))) {
      throw new PgvigilError('CONFLICT', `127.0.0.1:${vipPort} (the VIP) is in use`, { hint: 'another sandbox may be running; choose another port with --vip-port' });
    }
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755); // the agents run as postgres and read their files here
    const network = await SandboxNetwork.create({ dir, mode: options.mode ?? 'auto' });
    const state: SandboxState = {
      clusterId: options.clusterId ?? 'main',
      mode: network.mode,
      motoEndpoint: null,
      region: SANDBOX_REGION,
      vip: { host: '127.0.0.1', port: options.vipPort ?? 6432, allocationId: null },
      tableName: null,
      documentPrefix: null,
      instances: {},
      dataDirectories: {},
      owner: { pid: process.pid, startTime: procStartTime(process.pid) },
      latency: (options.latency ?? LATENCY_PROFILES.local).name,
      ready: false,
    };
    writeSandboxState(dir, state);
    const sandbox = new Sandbox({ ...options, dir }, network, state);
    try {
      await sandbox.bringUp();
    } catch (error) {
      sandbox.say(`ERROR: ${(error as Error).message}; tearing down`);
      await sandbox.down();
      throw error;
    }
    return sandbox;
  }

  private async bringUp(): Promise<void> {
    const { dir } = this;
    const names = ['node1', 'node2', 'node3', 'witness'];
    this.say(`network: ${this.network.mode === 'netns' ? `namespaces on ${this.network.subnetCidr} (gateway ${this.network.gateway})` : 'loopback (no partition drills)'}`);
    for (const name of names) await this.network.addHost(name);

    // pgvigil-agent on PATH for the agents and for the SSM documents' commands: the bundle the
    // systemd unit runs (`npm run build`), copied where the agents' user can read it.
    mkdirSync(join(dir, 'bin'), { recursive: true, mode: 0o755 });
    const bundle = join(dir, 'bin', 'pgvigil-agent.mjs');
    copyFileSync(builtArtifact(ARTIFACTS.agent), bundle);
    this.say(`agent: ${ARTIFACTS.agent}, the bundle the hosts run`);
    writeFileSync(
      join(dir, 'bin', 'pgvigil-agent'),
      `#!/bin/sh\nAWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true exec "${process.execPath}" "${bundle}" "$@"\n`,
      { mode: 0o755 },
    );

    this.say('emulated AWS: starting moto');
    ({ endpoint: this.motoEndpoint, switchoverPort: this.switchoverPort } = await startMoto(this.supervisor, this.network.gateway));
    this.state.motoEndpoint = this.motoEndpoint;
    writeSandboxState(dir, this.state);
    await this.startAwsProxy([...names, CONTROL_PLANE_ROUTE]);
    this.say(`emulated AWS: every host and the controller reach it through a route of its own (the AWS proxy, ${this.network.gateway})`);

    this.say('emulated AWS: deploying the control-plane stack (CDK template) into moto');
    this.deployment = await deployToEmulator(this.clientConfig, { controlPlane: { clusters: [{ clusterId: this.state.clusterId }] } });
    const allocationId = this.deployment.vipAllocationIds[this.state.clusterId] ?? null;
    if (!allocationId) throw new PgvigilError('INTERNAL', `the deployment has no Elastic IP for cluster ${this.state.clusterId}`);
    Object.assign(this.state, { tableName: this.deployment.tableName, documentPrefix: this.deployment.documentPrefix });
    this.state.vip.allocationId = allocationId;
    writeSandboxState(dir, this.state);

    this.ec2 = new EC2Client(this.clientConfig);
    this.instances = await runInstances(this.ec2, this.state.clusterId, names);
    this.state.instances = this.instances;
    writeSandboxState(dir, this.state);
    this.say(`emulated EC2: ${names.map((n) => `${n}=${this.instances[n]}`).join(' ')}`);

    const ports: Record<string, number> = {};
    if (this.network.mode === 'loopback') {
      for (const n of names) ports[n] = await freePort();
    }
    this.plan = planCluster({
      dir,
      clusterId: this.state.clusterId,
      addresses: Object.fromEntries(names.map((n) => [n, this.network.host(n).address])),
      ports,
      instanceIds: this.instances,
      region: SANDBOX_REGION,
      stateTable: this.deployment.tableName,
      vipAllocationId: allocationId,
      hbaNetworks: [...(this.network.subnetCidr ? [this.network.subnetCidr] : []), '127.0.0.1/32'],
      ...(this.options.overrides ? { overrides: this.options.overrides } : {}),
    });
    writePlanFiles(this.plan, {
      mkdir: (path, mode) => {
        mkdirSync(path, { recursive: true, mode });
        chownSync(path, this.user.uid, this.user.gid);
      },
      writeFile: (path, text, mode) => {
        writeFileSync(path, text, { mode });
        chownSync(path, this.user.uid, this.user.gid);
      },
    });
    for (const n of this.plan.nodes) if (n.postgres) this.state.dataDirectories[n.node_name] = n.dataDirectory;
    writeSandboxState(dir, this.state);

    const primary = this.plan.primary;
    this.say(`${primary.node_name}: initdb and start PostgreSQL 15 (primary, ${primary.address}:${primary.port})`);
    await this.server(primary.node_name).initdb();
    await this.startPostgres(primary.node_name);
    await this.agent(primary.node_name, ['primary', 'register']);
    this.say(`${primary.node_name}: registered as primary`);

    for (const standby of this.plan.nodes.filter((n) => n.role === 'standby')) {
      this.say(`${standby.node_name}: standby clone from ${primary.node_name} (pg_basebackup)`);
      await this.agent(standby.node_name, ['standby', 'clone', '--upstream-node-id', String(primary.node_id), '-c']);
      await this.server(standby.node_name).writeConfig(); // its own address, port and socket directory
      await this.startPostgres(standby.node_name);
      await this.agent(standby.node_name, ['standby', 'register']);
      this.say(`${standby.node_name}: streaming and registered as standby`);
    }
    const witness = this.plan.nodes.find((n) => n.role === 'witness');
    if (witness) {
      await this.agent(witness.node_name, ['witness', 'register']);
      this.say(`${witness.node_name}: registered as witness (${witness.location})`);
    }

    // The SSM runner and the sandbox's STONITH (for the switchover function; the controller process
    // builds its own from the same data), and EC2's StopInstances made real for the controller's.
    this.documents = await deployedCommandDocuments(this.clientConfig, this.deployment.documentPrefix, (line) => this.say(line));
    const byInstance = new Map(Object.entries(this.instances).map(([n, i]) => [i, n]));
    this.hostCommands = new SandboxHostCommands({
      network: this.network,
      documents: this.documents,
      prefix: this.deployment.documentPrefix,
      dir,
      targets: (instanceId) => {
        const name = byInstance.get(instanceId);
        return name ? this.runnerTarget(name) : undefined;
      },
      isStopped: (host) => this.supervisor.isHostDown(host),
      deliveryDelayMs: () => drawDelay(this.latency.ssmDelivery),
      statusDelayMs: () => drawDelay(this.latency.ssmStatus),
    });
    this.fencer = new SandboxInstanceFencer(this.supervisor, (i) => byInstance.get(i), this.ec2);
    this.watcher = new InstanceWatcher({
      ec2: this.ec2,
      instances: this.instances,
      stopHost: (host) => this.supervisor.killHost(host),
      isHostDown: (host) => this.supervisor.isHostDown(host),
      onStop: (host, state) => this.say(`${host}: its instance is ${state}: every process of the host stopped`),
      bootHost: (host) => this.bootHost(host),
      onBoot: (host) => this.say(`${host}: its instance was started: the host boots (PostgreSQL, then the agent)`),
      // EC2 changes made through the AWS proxy are followed at once (followAwsChanges); this reads
      // what others change (a StopInstances straight to the emulator).
      pollIntervalMs: 2000,
    });
    await this.watcher.start();

    const mover = new Ec2VipMover(this.ec2);
    await mover.moveTo(allocationId, this.instances[primary.node_name] as string);
    this.vip = new VipProxy({
      resolve: elasticIpResolver(mover, allocationId, (instanceId) => {
        const name = byInstance.get(instanceId);
        if (!name) return undefined;
        const node = this.node(name);
        return { host: node.address, port: node.port };
      }),
      listenPort: this.state.vip.port,
      // As for the instance watcher: moves made through the AWS proxy are followed at once; this
      // catches a move made straight to the emulator (the sandbox's own mover refreshes too).
      pollIntervalMs: 1000,
      followDelayMs: () => drawDelay(this.latency.vipFollow),
      onMove: (from, to, cut) => {
        if (from) this.say(`VIP: ${from.instanceId ?? '?'} → ${to?.instanceId ?? 'nowhere'} (${cut} connection${cut === 1 ? '' : 's'} cut)`);
      },
    });
    await this.vip.start();
    this.followAwsChanges();
    this.say(`VIP: 127.0.0.1:${this.vip.port} → ${primary.node_name} (psql -h 127.0.0.1 -p ${this.vip.port} -U postgres)`);

    for (const node of this.plan.nodes) {
      await this.startAgent(node.node_name);
      if (this.network.mode === 'loopback' && node.postgres) this.supervisor.addPidSource(node.node_name, () => postmasterPids(node.dataDirectory));
    }
    await this.waitForAgents();
    this.say(`agents: all ${this.plan.nodes.length} reporting, the primary holds its lease`);
    await this.startRoutes();

    if (this.options.startController === false) {
      this.say('controller: not started: the cluster reports but nobody fails over');
    } else {
      this.stopController = await (this.options.startController ?? startSandboxController)(this);
      this.say('controller: evaluator running on the local Lambda runtime (stream + sweep)');
    }
    this.switchoverEndpoint = await serveSwitchoverFunction(this, { port: this.switchoverPort });
    this.state.switchover = { endpoint: this.switchoverEndpoint.url, functionName: this.switchoverEndpoint.functionName };
    this.say(`switchover function: ${this.switchoverEndpoint.functionName} served on ${this.switchoverEndpoint.url} (Lambda Invoke; SSM Automation's ${this.deployment.switchoverDocumentName} invokes it)`);
    await this.startAlarms();
    this.state.ready = true;
    writeSandboxState(this.dir, this.state);
  }

  /**
   * Follows EC2 changes made through the AWS proxy (an Elastic IP moved, an instance stopped) as
   * soon as AWS answered them: the VIP proxy and the instance watcher read the emulator again then,
   * instead of polling it several times a second (docs/sandbox.md, "CPU").
   */
  private followAwsChanges(): void {
    const control = this.awsProxy;
    if (!control) return;
    void (async () => {
      let seen = -1;
      while (!this.stopping) {
        try {
          const now = await control.changes(seen, 20_000);
          if (now !== seen && seen !== -1) await Promise.all([this.vip?.refresh(), this.watcher?.refresh()]);
          seen = now;
        } catch {
          await new Promise((r) => setTimeout(r, 1000)); // the proxy restarts: its polls cover the gap
        }
      }
    })();
  }

  /** The stack's alarms made live: the SNS subscriber first, then the evaluator (sandbox/stack-services.ts). */
  private async startAlarms(): Promise<void> {
    const live = stackAlarms(this.clientConfig, this.deployment, this.dir, (line) => this.say(line));
    this.alarmClients = live.clients;
    this.notifications = live.notifications;
    await this.notifications.start();
    this.alarms = live.alarms;
    this.alarms.start();
    this.say(live.summary);
  }

  /**
   * The load balancer's routes (sandbox/stack-services.ts). Network namespaces only: on loopback
   * the hosts share one address and their API is off.
   */
  private async startRoutes(): Promise<void> {
    this.state.routes = null;
    if (this.network.mode !== 'netns') return;
    const routes = await startRoutes(this.plan.nodes, (line) => this.say(line));
    this.routes = routes;
    this.state.routes = { writer: `${routes.writer.host}:${routes.writer.port}`, reader: `${routes.reader.host}:${routes.reader.port}` };
  }

  /** Waits until every agent has sent a heartbeat and the primary's agent holds the lease. */
  private async waitForAgents(timeoutMs = 90_000): Promise<void> {
    const dynamo = new DynamoDBClient(this.clientConfig);
    const store = new DynamoStateStore(dynamo, this.deployment.tableName);
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const loaded = await store.load(this.state.clusterId).catch(() => undefined);
        const reporting = new Set(loaded?.snapshot.heartbeats.map((h) => h.node_id) ?? []);
        if (this.plan.nodes.every((n) => reporting.has(n.node_id)) && loaded?.snapshot.cluster.lease) return;
        if (Date.now() > deadline) {
          const silent = this.plan.nodes.filter((n) => !reporting.has(n.node_id)).map((n) => n.node_name);
          throw new PgvigilError('SYS_FAILURE', `agents not reporting after ${timeoutMs / 1000} s: ${silent.join(', ') || 'no lease on the primary'}`, {
            detail: `see the agent logs in ${this.supervisor.logDir}`,
          });
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      dynamo.destroy();
    }
  }

  /** A PostgresServer for a node (its own address, port, socket directory and settings). */
  server(name: string): PostgresServer {
    const node = this.node(name);
    return new PostgresServer({
      dataDir: node.dataDirectory,
      port: node.port,
      host: node.address,
      listenAddresses: node.address,
      binDir: pgBindir(this.plan),
      osUser: this.user.name,
      clusterName: node.node_name,
      hbaNetworks: this.plan.hbaNetworks,
      settings: this.plan.postgresSettings[name] ?? {},
    });
  }

  /** The AWS proxy (sandbox/emulated-aws.ts), recorded in the state file at once. */
  private async startAwsProxy(routes: string[]): Promise<void> {
    const proxy = await startAwsProxy(this.supervisor, { host: this.network.gateway, dir: this.dir, upstream: this.motoEndpoint, routes, latency: this.latency });
    this.awsProxy = proxy.control;
    this.awsRoutes = proxy.endpoints;
    this.state.awsProxy = { socket: proxy.socket, routes: this.awsRoutes };
    writeSandboxState(this.dir, this.state);
  }

  /** Tears everything down (idempotent; also what Ctrl-C does). */
  down(): Promise<void> {
    this.stopping ??= (async () => {
      await this.alarms?.stop().catch(() => undefined);
      await this.notifications?.stop().catch(() => undefined);
      this.alarmClients?.cloudwatch.destroy();
      this.alarmClients?.sns.destroy();
      await this.switchoverEndpoint?.stop().catch(() => undefined);
      await this.stopController?.().catch(() => undefined);
      await this.watcher?.stop().catch(() => undefined);
      await this.vip?.stop().catch(() => undefined);
      await this.routes?.writer.stop().catch(() => undefined);
      await this.routes?.reader.stop().catch(() => undefined);
      await this.hostCommands?.drain().catch(() => undefined);
      this.ec2?.destroy();
      await sandboxDown(this.dir, { supervisor: this.supervisor });
    })();
    return this.stopping;
  }
}

function pgBindir(plan: ClusterPlan | undefined): string {
  const text = plan?.configs.node1 ?? '';
  return /^pg_bindir='([^']*)'/m.exec(text)?.[1] ?? '/usr/lib/postgresql/15/bin';
}
