import { describe, expect, it } from 'vitest';
import { expandValidationCommand, validationFigures } from '../../agent/actions/validation.js';
import { clusterSnapshot } from '../support/snapshot-builder.js';

describe('failover_validation_command', () => {
  it("substitutes repmgr's placeholders", () => {
    expect(expandValidationCommand('/usr/local/bin/check %n %a %v/%t 100%%', 2, 'pg2', { visible: 3, total: 4 })).toBe('/usr/local/bin/check 2 pg2 3/4 100%');
  });

  it('leaves unknown placeholders alone', () => {
    expect(expandValidationCommand('x %q %n', 7, 'a', { visible: 1, total: 1 })).toBe('x %q 7');
  });

  it('counts the candidate itself and the active nodes its latest checks reached', () => {
    const snapshot = clusterSnapshot().sees(2, 1, { ok: false }).sees(2, 3, 'ok').sees(2, 4, 'ok').build();
    expect(validationFigures({ snapshot, rejected: [] }, 2)).toEqual({ visible: 3, total: 4 });
  });
});
