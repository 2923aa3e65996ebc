/**
 * AWS taking a host away (docs/operations.md, "When AWS takes the host"): the EventBridge events
 * the control plane's rules deliver — AWS Health scheduled changes of EC2 instances (retirement,
 * maintenance reboot, …), EC2 Spot interruption warnings and rebalance recommendations — read into
 * one notice, and the nodes whose instance such a notice still concerns, from the recorded events
 * (what `cluster show` warns about). Pure.
 */
import { PgvigilError } from './errors.js';
import type { EventName } from './events.js';
import type { ClusterSnapshot, EventRecord, NodeRecord } from './model.js';
import { array, object, optional, string, type Infer, type Schema } from './schema.js';

/** The event patterns of the control plane's rules (infra/construct.ts), in EventBridge's JSON form. */
export const HOST_EVENT_PATTERNS = {
  /** Every scheduled change AWS Health announces for an EC2 instance of the account. */
  health: { source: ['aws.health'], 'detail-type': ['AWS Health Event'], detail: { service: ['EC2'], eventTypeCategory: ['scheduledChange'] } },
  spot: { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation'] },
} as const;

/** The pgvigil events a notice is recorded as. */
export const HOST_EVENT_NAMES = ['aws_scheduled_event', 'spot_interruption'] as const satisfies readonly EventName[];
export type HostEventName = (typeof HOST_EVENT_NAMES)[number];

/** One delivered event, as pgvigil acts on it. */
export interface HostEventNotice {
  /** The pgvigil event it is recorded as. */
  event: HostEventName;
  /** AWS's name for it: the Health event type code, or the EC2 event's detail-type. */
  aws_event: string;
  /** The EC2 instances it concerns. */
  instance_ids: string[];
  /** When AWS acts on the instances (epoch ms), where the event says. */
  deadline: number | null;
  /** AWS reports the scheduled change closed: nothing more will happen to the instances. */
  closed: boolean;
}

/** What AWS Health sends for a rule on it (unknown keys are left out, not refused: AWS adds fields). */
const HealthEventSchema = object('AWS Health event', {
  time: string({ min: 1, max: 64 }),
  resources: optional(array(string({ min: 0, max: 2048 }), 10_000)),
  detail: object('detail', {
    service: string({ min: 1, max: 64 }),
    eventTypeCode: string({ min: 1, max: 200 }),
    eventTypeCategory: string({ min: 1, max: 64 }),
    statusCode: optional(string({ min: 0, max: 64 })),
    startTime: optional(string({ min: 0, max: 64 })),
    affectedEntities: optional(array(object('affected entity', { entityValue: string({ min: 0, max: 2048 }) }), 10_000)),
  }),
});

const Ec2InstanceEventSchema = object('EC2 instance event', {
  time: string({ min: 1, max: 64 }),
  detail: object('detail', { 'instance-id': string({ min: 1, max: 64, pattern: /^i-[0-9a-f]{8,17}$/, message: 'an EC2 instance id (i-…)' }) }),
});

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const INSTANCE_ARN = /^arn:aws[\w-]*:ec2:[a-z0-9-]*:\d*:instance\/(i-[0-9a-f]{8,17})$/;
/** EC2 interrupts a Spot instance two minutes after the warning. */
const SPOT_WARNING_MS = 2 * 60_000;

function parsed<T>(schema: Schema<T>, input: unknown, what: string): T {
  const result = schema.check(input, { unknownKeys: 'drop' });
  if (!result.ok) throw new PgvigilError('BAD_INPUT', `invalid ${what}`, { detail: result.errors.join('\n') });
  return result.value;
}

function timeOf(text: string | undefined, where: string): number | null {
  if (text === undefined || text.trim() === '') return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new PgvigilError('BAD_INPUT', `invalid ${where}: "${text.slice(0, 64)}" is not a time`);
  return ms;
}

function healthNotice(input: unknown): HostEventNotice {
  const e: Infer<typeof HealthEventSchema> = parsed(HealthEventSchema, input, 'AWS Health event');
  const d = e.detail;
  if (d.service !== 'EC2' || d.eventTypeCategory !== 'scheduledChange') {
    throw new PgvigilError('BAD_INPUT', `AWS Health event ${d.eventTypeCode} is a ${d.service} ${d.eventTypeCategory} event, not an EC2 scheduled change`);
  }
  const ids = new Set<string>();
  for (const entity of d.affectedEntities ?? []) if (INSTANCE_ID.test(entity.entityValue)) ids.add(entity.entityValue);
  for (const r of e.resources ?? []) {
    const id = INSTANCE_ID.test(r) ? r : INSTANCE_ARN.exec(r)?.[1];
    if (id) ids.add(id);
  }
  if (ids.size === 0) throw new PgvigilError('BAD_INPUT', `AWS Health event ${d.eventTypeCode} names no EC2 instance (resources, detail.affectedEntities)`);
  return {
    event: 'aws_scheduled_event',
    aws_event: d.eventTypeCode,
    instance_ids: [...ids],
    deadline: timeOf(d.startTime, `startTime of AWS Health event ${d.eventTypeCode}`),
    closed: d.statusCode === 'closed',
  };
}

function ec2Notice(input: unknown, detailType: string): HostEventNotice {
  const e = parsed(Ec2InstanceEventSchema, input, `"${detailType}" event`);
  const sent = timeOf(e.time, `time of the "${detailType}" event`);
  const interruption = detailType === 'EC2 Spot Instance Interruption Warning';
  return {
    event: 'spot_interruption',
    aws_event: detailType,
    instance_ids: [e.detail['instance-id']],
    deadline: interruption && sent !== null ? sent + SPOT_WARNING_MS : null,
    closed: false,
  };
}

/**
 * Reads an event the rules deliver; anything else is `BAD_INPUT` naming what it is, so a rule
 * edited by hand that lets other events through is noticed in the function's log.
 */
export function parseHostEvent(input: unknown): HostEventNotice {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new PgvigilError('BAD_INPUT', 'invalid host event: not a JSON object');
  const source = (input as Record<string, unknown>).source;
  const detailType = (input as Record<string, unknown>)['detail-type'];
  if (source === 'aws.health' && detailType === 'AWS Health Event') return healthNotice(input);
  if (source === 'aws.ec2' && typeof detailType === 'string' && (HOST_EVENT_PATTERNS.spot['detail-type'] as readonly string[]).includes(detailType)) return ec2Notice(input, detailType);
  throw new PgvigilError('BAD_INPUT', `not an event of the host-event rules: source ${JSON.stringify(source)}, detail-type ${JSON.stringify(detailType)}`, {
    detail: 'expected an AWS Health "AWS Health Event" or an aws.ec2 Spot interruption warning or rebalance recommendation',
  });
}

/** How far back `cluster show` and the handler look for recorded notices (Health announces retirements weeks ahead). */
export const HOST_EVENT_LOOKBACK_MS = 45 * 86_400_000;
/** A notice without a deadline stays current this long. */
const UNDATED_CURRENT_MS = 24 * 3_600_000;
/** A notice stays current this long after its deadline (AWS's work may take a while). */
const AFTER_DEADLINE_MS = 3_600_000;

/** What a recorded notice's `info` holds (functions/host-events.ts writes it). */
export interface HostEventInfo {
  aws_event: string;
  instance_id: string;
  deadline: number | null;
  closed: boolean;
  action: string;
  candidate_node_id?: number;
}

export function hostEventInfo(record: EventRecord): HostEventInfo | null {
  const i = record.info;
  if (!(HOST_EVENT_NAMES as readonly string[]).includes(record.event) || !i) return null;
  if (typeof i.aws_event !== 'string' || typeof i.instance_id !== 'string' || typeof i.closed !== 'boolean' || typeof i.action !== 'string') return null;
  if (i.deadline !== null && typeof i.deadline !== 'number') return null;
  return i as unknown as HostEventInfo;
}

export interface CurrentHostEvent {
  node: NodeRecord;
  record: EventRecord;
  info: HostEventInfo;
}

/**
 * The nodes whose instance AWS still means to take: the latest recorded notice for the node's
 * current instance is open and its deadline (or, without one, its recording) is recent. A node
 * moved to another instance has none.
 */
export function currentHostEvents(snapshot: ClusterSnapshot, events: readonly EventRecord[], now: number): CurrentHostEvent[] {
  const out: CurrentHostEvent[] = [];
  for (const node of snapshot.nodes) {
    if (!node.instance_id) continue;
    let latest: { record: EventRecord; info: HostEventInfo } | null = null;
    for (const record of events) {
      const info = record.node_id === node.node_id ? hostEventInfo(record) : null;
      if (info && info.instance_id === node.instance_id && (latest === null || record.timestamp >= latest.record.timestamp)) latest = { record, info };
    }
    if (!latest || latest.info.closed) continue;
    const until = latest.info.deadline === null ? latest.record.timestamp + UNDATED_CURRENT_MS : latest.info.deadline + AFTER_DEADLINE_MS;
    if (now <= until) out.push({ node, ...latest });
  }
  return out;
}

/** `cluster show`'s warning for each node whose instance AWS still means to take. */
export function hostEventWarnings(snapshot: ClusterSnapshot, events: readonly EventRecord[], now: number): string[] {
  return currentHostEvents(snapshot, events, now).map(({ node, info, record }) => {
    const when = info.deadline === null ? '' : ` at ${new Date(info.deadline).toISOString()}`;
    const role = node.node_id === snapshot.cluster.primary_node_id ? 'primary' : node.type;
    return (
      `${role} node "${node.node_name}" (ID: ${node.node_id}) runs on instance ${info.instance_id}, which AWS will take${when} (${info.aws_event}, ` +
      `recorded ${new Date(record.timestamp).toISOString()}): move the node to another instance`
    );
  });
}
