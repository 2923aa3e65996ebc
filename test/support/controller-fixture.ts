/**
 * A controller under test against moto: the state table (with its stream), EC2 instances for the
 * nodes and an Elastic IP on the primary's, pgvigil's SSM Command documents, an SNS topic with an
 * SQS queue subscribed (so tests read what was published), and a clock the test can move forward.
 *
 * Hosts are simulated by {@link reactingHosts}: it forwards every command to the real SSM adapter
 * (so moto records it) and then writes the heartbeat the host's agent would write next — a standby
 * that was told to promote reports itself out of recovery on a new timeline, and so on.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { AllocateAddressCommand, AssociateAddressCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateDocumentCommand, ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoStateStore } from '../../adapters/dynamo-state-store.js';
import { createStateTable } from '../../adapters/dynamo-table.js';
import { SsmHostCommands } from '../../adapters/ssm-host-commands.js';
import type { ClusterSnapshot, Heartbeat } from '../../core/model.js';
import type { Clock, HostAction, HostCommandResult, HostCommands, Metrics } from '../../core/ports.js';
import { compareLsn } from '../../core/lsn.js';
import { PROMOTE_NOT_STARTED } from '../../core/host-actions.js';
import { keys } from '../../core/table.js';
import { DEFAULT_TIMINGS, type ControllerDeps, type ControllerTimings, type Invocation } from '../../functions/controller.js';
import { buildDeps } from '../../functions/environment.js';
import { silentLogger } from '../../functions/log.js';
import { commandDocuments } from '../../infra/ssm-documents.js';
import { startMoto, type Moto } from './moto.js';

export const DOCUMENT_PREFIX = 'pgvigil';

/** Real time plus an offset the test can push forward (to pass a saga owner's deadline). */
export class TestClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  async sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(ms, 200))));
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface SentCommand {
  documentName: string;
  instanceId: string;
  parameters: Record<string, string>;
}

/** Metrics that are just remembered. */
export class RecordingMetrics implements Metrics {
  readonly points: { name: string; value: number; dimensions: Record<string, string> }[] = [];
  put(name: string, value: number, _unit: string, dimensions: Record<string, string>): void {
    this.points.push({ name, value, dimensions });
  }
  flush(): void {}
}

export const FAST_TIMINGS: ControllerTimings = {
  ...DEFAULT_TIMINGS,
  pollIntervalMs: 50,
  fenceWaitMs: 2000,
  demoteWaitMs: 3000,
  stepRetryDelayMs: 20,
  ownerLeaseMs: 20_000,
  safetyMarginMs: 100,
};

export class ControllerFixture {
  readonly ddb: DynamoDBClient;
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly store: DynamoStateStore;
  readonly clock = new TestClock();
  readonly metrics = new RecordingMetrics();
  topicArn = '';
  queueUrl = '';
  streamArn: string | undefined;
  allocationId = '';
  instances = new Map<number, string>();

  private constructor(
    readonly moto: Moto,
    readonly table: string,
  ) {
    this.ddb = new DynamoDBClient(moto.clientConfig);
    this.ec2 = new EC2Client(moto.clientConfig);
    this.ssm = new SSMClient(moto.clientConfig);
    this.sns = new SNSClient(moto.clientConfig);
    this.sqs = new SQSClient(moto.clientConfig);
    this.store = new DynamoStateStore(this.ddb, table);
  }

  static async start(table = 'pgvigil-state'): Promise<ControllerFixture> {
    const f = new ControllerFixture(await startMoto(), table);
    f.streamArn = (await createStateTable(f.ddb, table)).streamArn;
    const topic = await f.sns.send(new CreateTopicCommand({ Name: 'pgvigil-events' }));
    f.topicArn = topic.TopicArn ?? '';
    const queue = await f.sqs.send(new CreateQueueCommand({ QueueName: 'pgvigil-events' }));
    f.queueUrl = queue.QueueUrl ?? '';
    const attrs = await f.sqs.send(new GetQueueAttributesCommand({ QueueUrl: f.queueUrl, AttributeNames: ['QueueArn'] }));
    await f.sns.send(new SubscribeCommand({ TopicArn: f.topicArn, Protocol: 'sqs', Endpoint: attrs.Attributes?.QueueArn }));
    for (const doc of Object.values(commandDocuments({ prefix: DOCUMENT_PREFIX }))) {
      await f.ssm.send(new CreateDocumentCommand({ Name: doc.name, DocumentType: 'Command', DocumentFormat: 'JSON', Content: JSON.stringify(doc.content) }));
    }
    return f;
  }

  async stop(): Promise<void> {
    await this.moto.stop();
  }

  /** EC2 instances for node ids, and an Elastic IP associated with the first one's. */
  async createInstances(nodeIds: number[]): Promise<void> {
    const images = await this.ec2.send(new DescribeImagesCommand({}));
    const imageId = images.Images?.[0]?.ImageId ?? 'ami-12c6146b';
    for (const id of nodeIds) {
      const r = await this.ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
      this.instances.set(id, r.Instances?.[0]?.InstanceId ?? '');
    }
    const address = await this.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    this.allocationId = address.AllocationId ?? '';
    await this.ec2.send(
      new AssociateAddressCommand({ AllocationId: this.allocationId, InstanceId: this.instances.get(nodeIds[0] ?? 1), AllowReassociation: true }),
    );
  }

  /** Writes a snapshot's cluster record, nodes (with this fixture's instances) and heartbeats. */
  async seed(snapshot: ClusterSnapshot): Promise<void> {
    const cluster = { ...snapshot.cluster, settings: { ...snapshot.cluster.settings, vip_allocation_id: this.allocationId || null } };
    const created = await this.store.createCluster(cluster);
    if (!created.ok) throw new Error(`cluster ${cluster.cluster_id} exists`);
    for (const n of snapshot.nodes) await this.store.putNode({ ...n, instance_id: this.instances.get(n.node_id) ?? n.instance_id });
    for (const hb of snapshot.heartbeats) await this.store.putHeartbeat(hb, true);
  }

  /** The agents keep reporting: every heartbeat re-sent now (seq + 1), checks re-made now. */
  async refreshHeartbeats(clusterId: string): Promise<void> {
    const loaded = await this.store.load(clusterId);
    const now = this.clock.now();
    for (const hb of loaded?.snapshot.heartbeats ?? []) {
      await this.store.putHeartbeat(
        {
          ...hb,
          seq: hb.seq + 1,
          sent_at: now,
          reachability: hb.reachability.map((r) => ({ ...r, checked_at: now - 200, ...(r.ok ? { last_ok_at: now - 200 } : {}) })),
        },
        true,
      );
    }
  }

  async patchHeartbeat(clusterId: string, nodeId: number, patch: (hb: Heartbeat) => Heartbeat): Promise<void> {
    const loaded = await this.store.load(clusterId);
    const hb = loaded?.snapshot.heartbeats.find((h) => h.node_id === nodeId);
    if (!hb) throw new Error(`no heartbeat of node ${nodeId}`);
    await this.store.putHeartbeat(patch({ ...hb, seq: hb.seq + 1, sent_at: this.clock.now() }), true);
  }

  hosts(): SsmHostCommands {
    return new SsmHostCommands(this.ssm, { documentPrefix: DOCUMENT_PREFIX, pollIntervalMs: 20, clock: this.clock });
  }

  /**
   * The controller's dependencies as every process builds them ({@link buildDeps}), on this
   * fixture's clients and clock, with what a test controls: the simulated hosts, remembered metrics
   * and fast timings. No flight record is kept and no Route 53 record moved unless a test hands in
   * its own recorder or mover.
   */
  deps(overrides: Partial<ControllerDeps> = {}): ControllerDeps {
    return buildDeps(
      { table: this.table, topicArn: this.topicArn, documentPrefix: DOCUMENT_PREFIX },
      {
        clientConfig: this.moto.clientConfig,
        clients: { dynamodb: this.ddb, ec2: this.ec2, sns: this.sns },
        clock: this.clock,
        log: silentLogger,
        overrides: {
          hosts: reactingHosts(this.hosts(), this),
          metrics: this.metrics,
          timings: FAST_TIMINGS,
          recorder: undefined,
          route53: undefined,
          ...overrides,
        },
      },
    );
  }

  /** Command id → the instance it was sent to (moto's ListCommands lists every instance on each command). */
  readonly sentTo = new Map<string, string>();

  /** Every SSM command moto recorded, oldest first. */
  async commands(): Promise<SentCommand[]> {
    const out: SentCommand[] = [];
    let token: string | undefined;
    do {
      const page = await this.ssm.send(new ListCommandsCommand({ NextToken: token }));
      for (const c of page.Commands ?? []) {
        const parameters: Record<string, string> = {};
        for (const [k, v] of Object.entries(c.Parameters ?? {})) parameters[k] = v[0] ?? '';
        out.push({ documentName: c.DocumentName ?? '', instanceId: this.sentTo.get(c.CommandId ?? '') ?? '?', parameters });
      }
      token = page.NextToken;
    } while (token);
    return out;
  }

  /** Messages published to the topic (drained from the subscribed queue). */
  async published(): Promise<{ message: Record<string, unknown>; attributes: Record<string, string> }[]> {
    const out: { message: Record<string, unknown>; attributes: Record<string, string> }[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await this.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      const messages = r.Messages ?? [];
      if (messages.length === 0) break;
      for (const m of messages) {
        const envelope = JSON.parse(m.Body ?? '{}') as { Message?: string; MessageAttributes?: Record<string, { Value: string }> };
        const attributes: Record<string, string> = {};
        for (const [k, v] of Object.entries(envelope.MessageAttributes ?? {})) attributes[k] = v.Value;
        out.push({ message: JSON.parse(envelope.Message ?? '{}') as Record<string, unknown>, attributes });
      }
    }
    return out;
  }

  /** Every item of the table (for asserting nothing else was written). */
  async items(): Promise<Record<string, unknown>[]> {
    const r = await this.ddb.send(new ScanCommand({ TableName: this.table }));
    return (r.Items ?? []).map((i) => unmarshall(i));
  }

  heartbeatKey(nodeId: number): string {
    return keys.heartbeat(nodeId);
  }
}

let invocationCounter = 0;
export function invocation(overrides: Partial<Invocation> = {}): Invocation {
  invocationCounter += 1;
  return { owner: `test-invocation-${invocationCounter}`, remainingMs: () => 600_000, ...overrides };
}

/**
 * Wraps the real SSM adapter with simulated hosts: after a command is sent (and recorded by moto),
 * the target's agent "carries it out" by writing the heartbeat it would write.
 */
export function reactingHosts(real: HostCommands, f: ControllerFixture, react: boolean | ((a: HostAction) => boolean) = true): HostCommands {
  const refusals = new Map<string, HostCommandResult>();
  return {
    async send(instanceId: string, action: HostAction): Promise<string> {
      const id = await real.send(instanceId, action);
      f.sentTo.set(id, instanceId);
      if (typeof react === 'function' ? react(action) : react) {
        const refused = await simulateHost(f, action);
        if (refused) refusals.set(id, refused);
      }
      return id;
    },
    wait: async (commandId, instanceId, timeoutMs) => refusals.get(commandId) ?? real.wait(commandId, instanceId, timeoutMs),
  };
}

/**
 * Carries out `action` as the host's agent would, in its heartbeat. Returns the command's result
 * when the agent would refuse it (moto reports every command a success).
 */
export async function simulateHost(f: ControllerFixture, action: HostAction): Promise<HostCommandResult | undefined> {
  const patch = (p: (hb: Heartbeat) => Heartbeat): Promise<void> => f.patchHeartbeat(action.clusterId, action.nodeId, p);
  switch (action.action) {
    case 'promote': {
      // The candidate of a switchover refuses until it has the demoted primary's final LSN.
      const loaded = (await f.store.load(action.clusterId))?.snapshot;
      const op = loaded?.cluster.operation;
      const finalLsn = op?.kind === 'switchover' && op.candidate_node_id === action.nodeId && typeof op.data.final_lsn === 'string' ? op.data.final_lsn : null;
      const hb = loaded?.heartbeats.find((h) => h.node_id === action.nodeId);
      const received = hb?.server?.receive_lsn ?? hb?.server?.replay_lsn ?? '0/0';
      if (finalLsn !== null && compareLsn(received, finalLsn) < 0) {
        return { status: 'Failed', exitCode: 8, output: `ERROR: STANDBY PROMOTE refused: this standby is missing WAL the old primary wrote\nDETAIL: the standby has received WAL up to ${received} only, not the demoted primary's final LSN ${finalLsn}\n${PROMOTE_NOT_STARTED}\n` };
      }
      await patch((hb) => ({
        ...hb,
        term: action.term,
        server: hb.server && {
          ...hb.server,
          in_recovery: false,
          timeline: (hb.server.timeline ?? 1) + 1,
          current_lsn: hb.server.receive_lsn,
          wal_receiver_status: null,
          wal_receiver_upstream_node_id: null,
        },
      }));
      break;
    }
    case 'follow':
    case 'rejoin': {
      // Streaming from the upstream puts the standby on the upstream's timeline and position.
      const up = action.upstreamNodeId === undefined ? undefined : (await f.store.load(action.clusterId))?.snapshot.heartbeats.find((h) => h.node_id === action.upstreamNodeId)?.server;
      await patch((hb) => ({
        ...hb,
        term: action.term,
        server: hb.server && {
          ...hb.server,
          ...(up?.timeline ? { timeline: up.timeline } : {}),
          ...(up?.current_lsn ? { receive_lsn: up.current_lsn, replay_lsn: up.current_lsn } : {}),
          postmaster_running: true,
          accepting_connections: true,
          in_recovery: true,
          fenced: false,
          wal_receiver_status: 'streaming',
          wal_receiver_upstream_node_id: action.upstreamNodeId ?? null,
        },
      }));
      break;
    }
    case 'fence':
    case 'demote':
      // Both leave the fence marker, which the agent reports (demote stops the server cleanly).
      await patch((hb) => ({ ...hb, term: action.term, server: hb.server && { ...hb.server, postmaster_running: false, accepting_connections: false, fenced: true } }));
      break;
    case 'disconnect-wal-receiver':
      await patch((hb) => ({ ...hb, term: action.term, server: hb.server && { ...hb.server, wal_receiver_status: null } }));
      break;
    case 'unfence-primary':
      await patch((hb) => ({ ...hb, term: action.term, server: hb.server && { ...hb.server, postmaster_running: true, accepting_connections: true, fenced: false } }));
      break;
    default:
      break;
  }
}
