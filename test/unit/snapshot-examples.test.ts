import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../core/engine/index.js';
import { parseSnapshotFile } from '../../cli/snapshot-file.js';

/** Every shipped example snapshot decides what its "expect" field says (docs/snapshot-format.md). */
const dir = join(import.meta.dirname, '../../examples/snapshots');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('examples/snapshots', () => {
  it('ships every scenario the documentation promises', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'healthy.json',
        'primary-server-crashed.json',
        'primary-silent-lease-fresh.json',
        'primary-silent-lease-expired.json',
        'witness-sees-primary.json',
        'location-dark-failover.json',
        'location-dark-no-failover.json',
        'best-standby-priority-zero.json',
        'candidates-over-max-lag.json',
        'sync-most-advanced-async.json',
        'two-primaries.json',
        'paused-cluster.json',
      ]),
    );
  });

  for (const file of files) {
    it(`${file} validates and decides what it expects`, () => {
      const parsed = parseSnapshotFile(readFileSync(join(dir, file), 'utf8'), file);
      expect(parsed.expect, 'every example records its expected decision').not.toBeNull();
      expect(parsed.now, 'every example records its controller time').not.toBeNull();
      const d = decide(parsed.snapshot, parsed.now ?? 0);
      expect(d.code, d.reasons.join('\n')).toBe(parsed.expect?.code);
      const failover = [...d.actions, ...d.suppressed_actions].find((a) => a.kind === 'failover');
      expect(failover?.kind === 'failover' ? failover.candidate_node_id : null).toBe(parsed.expect?.candidate ?? null);
      if (parsed.expect?.reason) expect(d.reasons.join('\n')).toContain(parsed.expect.reason);
    });
  }
});
