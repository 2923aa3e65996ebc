import { describe, expect, it } from 'vitest';
import { currentHostEvents, hostEventWarnings, parseHostEvent, type HostEventInfo } from '../../core/host-events.js';
import type { EventRecord } from '../../core/model.js';
import { hostEvent, FIXTURE_INSTANCE } from '../support/host-events.js';
import { SnapshotBuilder } from '../support/snapshot-builder.js';

describe('parseHostEvent', () => {
  it('reads an AWS Health retirement: the event type, the instance and when AWS starts', () => {
    expect(parseHostEvent(hostEvent('health-retirement'))).toEqual({
      event: 'aws_scheduled_event',
      aws_event: 'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED',
      instance_ids: [FIXTURE_INSTANCE],
      deadline: Date.UTC(2026, 11, 21, 10, 0, 0),
      closed: false,
    });
  });

  it('takes the instances from the affected entities when the resources are empty', () => {
    const notice = parseHostEvent(hostEvent('health-reboot-maintenance'));
    expect(notice).toMatchObject({ aws_event: 'AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED', instance_ids: [FIXTURE_INSTANCE], deadline: Date.UTC(2026, 11, 14, 3) });
  });

  it('reads a Health event AWS closed as closed', () => {
    const e = hostEvent('health-retirement');
    e.detail.statusCode = 'closed';
    expect(parseHostEvent(e).closed).toBe(true);
  });

  it('gives a Spot interruption warning the two minutes EC2 announces as its deadline', () => {
    expect(parseHostEvent(hostEvent('spot-interruption-warning'))).toEqual({
      event: 'spot_interruption',
      aws_event: 'EC2 Spot Instance Interruption Warning',
      instance_ids: [FIXTURE_INSTANCE],
      deadline: Date.UTC(2026, 11, 7, 6, 12, 0),
      closed: false,
    });
  });

  it('reads a rebalance recommendation as a Spot notice without a deadline', () => {
    expect(parseHostEvent(hostEvent('rebalance-recommendation'))).toMatchObject({ event: 'spot_interruption', aws_event: 'EC2 Instance Rebalance Recommendation', deadline: null });
  });

  it('refuses events the rules do not deliver, saying what they are', () => {
    expect(() => parseHostEvent(hostEvent('ec2-state-change'))).toThrow('not an event of the host-event rules: source "aws.ec2", detail-type "EC2 Instance State-change Notification"');
    expect(() => parseHostEvent(hostEvent('health-rds-scheduled'))).toThrow('AWS_RDS_MAINTENANCE_SCHEDULED is a RDS scheduledChange event, not an EC2 scheduled change');
    expect(() => parseHostEvent(hostEvent('health-ec2-issue'))).toThrow('is a EC2 issue event');
    expect(() => parseHostEvent('{}')).toThrow('not a JSON object');
  });

  it('refuses a malformed event, naming the field', () => {
    const noInstance = hostEvent('spot-interruption-warning');
    noInstance.detail['instance-id'] = 'web-1';
    expect(() => parseHostEvent(noInstance)).toThrow(expect.objectContaining({ code: 'BAD_INPUT', detail: expect.stringContaining('instance-id') }));
    const none = hostEvent('health-reboot-maintenance');
    none.detail.affectedEntities = [];
    expect(() => parseHostEvent(none)).toThrow('names no EC2 instance');
    const badTime = hostEvent('health-retirement');
    badTime.detail.startTime = 'next Tuesday';
    expect(() => parseHostEvent(badTime)).toThrow('"next Tuesday" is not a time');
  });
});

describe('currentHostEvents', () => {
  const now = Date.UTC(2026, 11, 7, 8, 0, 0);
  const snapshot = new SnapshotBuilder({ now }).build();
  const standby = snapshot.nodes.find((n) => n.node_id === 2)!;
  const recorded = (info: Partial<HostEventInfo>, at = now - 60_000, nodeId = 2): EventRecord => ({
    cluster_id: snapshot.cluster.cluster_id,
    node_id: nodeId,
    event: 'aws_scheduled_event',
    successful: true,
    timestamp: at,
    details: 'recorded',
    term: snapshot.cluster.term,
    info: { aws_event: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED', instance_id: standby.instance_id, deadline: now + 86_400_000, closed: false, action: 'noted', ...info },
  });

  it('warns about a node whose instance AWS still means to take', () => {
    expect(currentHostEvents(snapshot, [recorded({})], now).map((c) => c.node.node_id)).toEqual([2]);
    expect(hostEventWarnings(snapshot, [recorded({})], now)).toEqual([
      `standby node "${standby.node_name}" (ID: 2) runs on instance ${standby.instance_id}, which AWS will take at 2026-12-08T08:00:00.000Z ` +
        '(AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED, recorded 2026-12-07T07:59:00.000Z): move the node to another instance',
    ]);
  });

  it('stops warning once AWS closed it, the deadline is an hour past, or the node runs on another instance', () => {
    expect(currentHostEvents(snapshot, [recorded({}), recorded({ closed: true }, now - 1000)], now)).toEqual([]);
    expect(currentHostEvents(snapshot, [recorded({ deadline: now - 3_600_001 })], now)).toEqual([]);
    expect(currentHostEvents(snapshot, [recorded({ instance_id: 'i-0fffffffffffffff0' })], now)).toEqual([]);
    expect(currentHostEvents(snapshot, [recorded({}, now - 60_000, 3)], now)).toEqual([]);
  });

  it('keeps a notice without a deadline for a day', () => {
    expect(currentHostEvents(snapshot, [recorded({ deadline: null }, now - 23 * 3_600_000)], now)).toHaveLength(1);
    expect(currentHostEvents(snapshot, [recorded({ deadline: null }, now - 25 * 3_600_000)], now)).toEqual([]);
  });
});
