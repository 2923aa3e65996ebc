/**
 * EventBridge events as AWS sends them for an instance it takes (test/fixtures/host-events/, after
 * the samples of the AWS Health and EC2 Spot documentation), for another instance id.
 */
import { readFileSync } from 'node:fs';

/** The instance id the fixtures name. */
export const FIXTURE_INSTANCE = 'i-0123456789abcdef0';

/** Events the rules deliver and the function acts on. */
export const DELIVERED = ['health-retirement', 'health-reboot-maintenance', 'spot-interruption-warning', 'rebalance-recommendation'] as const;
/** Events of the same sources that the rules leave out. */
export const LEFT_OUT = ['health-rds-scheduled', 'health-ec2-issue', 'ec2-state-change'] as const;
export type HostEventFixture = (typeof DELIVERED)[number] | (typeof LEFT_OUT)[number];

/** The fixture's JSON text with `instanceId` in place of the fixtures' instance. */
export function hostEventText(name: HostEventFixture, instanceId = FIXTURE_INSTANCE): string {
  return readFileSync(new URL(`../fixtures/host-events/${name}.json`, import.meta.url), 'utf8').replaceAll(FIXTURE_INSTANCE, instanceId);
}

export function hostEvent(name: HostEventFixture, instanceId = FIXTURE_INSTANCE): Record<string, unknown> & { detail: Record<string, unknown> } {
  return JSON.parse(hostEventText(name, instanceId)) as Record<string, unknown> & { detail: Record<string, unknown> };
}
