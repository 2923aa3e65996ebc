import { describe, expect, it } from 'vitest';
import type { Operation } from '../../core/model.js';
import { supersedableCooldown } from '../../functions/sagas/runner.js';
import { switchoverChecks } from '../../functions/switchover.js';
import { BUILDER_NOW, SnapshotBuilder } from '../support/snapshot-builder.js';

const UNTIL = BUILDER_NOW + 600_000;
const UNTIL_TEXT = new Date(UNTIL).toISOString();

function operation(kind: Operation['kind'], step: string, data: Record<string, unknown> = {}): Operation {
  return { id: `${kind}-op`, kind, term: 3, candidate_node_id: 3, old_primary_node_id: 1, step, owner: step === 'cooldown' ? 'cooldown' : 'evaluator-1', deadline: UNTIL, started_at: BUILDER_NOW - 60_000, data };
}

function noOperationCheck(op: Operation | null, now = BUILDER_NOW): { passed: boolean; detail: string } | undefined {
  const snapshot = new SnapshotBuilder().cluster({ operation: op }).build();
  const check = switchoverChecks(snapshot, 2, false, now).find((c) => c.name === 'no_operation_in_progress');
  return check && { passed: check.passed, detail: check.detail };
}

describe('switchoverChecks: no_operation_in_progress', () => {
  it.each(['rejoin', 'follow'] as const)('passes over the cooldown of a %s that gave up, saying the switchover supersedes it', (kind) => {
    expect(noOperationCheck(operation(kind, 'cooldown', { upstream_node_id: 1 }))).toEqual({
      passed: true,
      detail: `no saga is in flight: the ${kind} of node 3 (operation ${kind}-op) gave up and only cools down until ${UNTIL_TEXT} (election_rerun_interval); the switchover will supersede that cooldown, and the controller decides the ${kind} again after it`,
    });
  });

  it('says when such a cooldown has already ended', () => {
    expect(noOperationCheck(operation('rejoin', 'cooldown'), UNTIL + 1)?.detail).toContain(`gave up and its cooldown ended at ${UNTIL_TEXT}; the switchover will supersede`);
  });

  it.each([
    ['a failover', operation('failover', 'cooldown'), `a failover (operation failover-op) is at step "cooldown" until ${UNTIL_TEXT}; a switchover supersedes only the cooldown of a follow or rejoin`],
    [
      "a failover's hard cooldown",
      operation('failover', 'cooldown', { cooldown_hard: true }),
      `a failover (operation failover-op) is at step "cooldown" until ${UNTIL_TEXT}, a hard one: a promote may have reached node 3, whose fence was not confirmed; a switchover supersedes only the cooldown of a follow or rejoin`,
    ],
    ['a fence', operation('fence', 'cooldown'), `a fence (operation fence-op) is at step "cooldown" until ${UNTIL_TEXT}; a switchover supersedes only the cooldown of a follow or rejoin`],
    ['a restart', operation('restart', 'cooldown'), `a restart (operation restart-op) is at step "cooldown" until ${UNTIL_TEXT}; a switchover supersedes only the cooldown of a follow or rejoin`],
    ['a rejoin that runs', operation('rejoin', 'rejoin'), 'a rejoin (operation rejoin-op) is at step "rejoin"'],
    ['a rejoin starting its instance', operation('rejoin', 'start_instance'), 'a rejoin (operation rejoin-op) is at step "start_instance"'],
    ['a follow that runs', operation('follow', 'follow'), 'a follow (operation follow-op) is at step "follow"'],
    ['a switchover', operation('switchover', 'demote_primary'), 'a switchover (operation switchover-op) is at step "demote_primary"'],
  ])('fails for %s', (_what, op, detail) => {
    expect(noOperationCheck(op)).toEqual({ passed: false, detail });
    expect(supersedableCooldown(op)).toBe(false);
  });

  it('passes with no operation in the record', () => {
    expect(noOperationCheck(null)).toEqual({ passed: true, detail: 'no saga is in flight' });
  });
});
