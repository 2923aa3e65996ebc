/**
 * deploy/systemd/pgvigil-agent.service gives the agent priority over the database's load without
 * capping it (docs/agent.md, "Lease and fencing"): a starved agent renews late and fences a healthy
 * primary, a capped one can be throttled or killed while it holds the lease.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const text = readFileSync(new URL('../../deploy/systemd/pgvigil-agent.service', import.meta.url), 'utf8');

/** The [Service] section's settings (the last assignment of a key wins, as in systemd). */
function service(): Map<string, string> {
  const settings = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1] as string;
    else if (section === 'Service') {
      const i = line.indexOf('=');
      settings.set(line.slice(0, i), line.slice(i + 1));
    }
  }
  return settings;
}

const bytes = (v: string | undefined): number => {
  const m = /^(\d+)([KMG]?)$/.exec(v ?? '');
  return m ? Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as '' | 'K' | 'M' | 'G']) : NaN;
};

describe('the agent\'s systemd unit', () => {
  const s = service();

  it('weighs the agent\'s CPU and IO well above a default unit\'s 100, and runs it ahead of the database\'s processes', () => {
    expect(Number(s.get('CPUWeight'))).toBeGreaterThanOrEqual(500);
    expect(Number(s.get('IOWeight'))).toBeGreaterThanOrEqual(500);
    expect(Number(s.get('Nice'))).toBeLessThan(0);
  });

  it('keeps the agent out of the OOM killer\'s way without making it unkillable, and its memory from being reclaimed', () => {
    const oom = Number(s.get('OOMScoreAdjust'));
    expect(oom).toBeLessThan(-500);
    expect(oom).toBeGreaterThan(-1000);
    // The bundle's resident memory is ~52 MB (docs/agent.md, "Figures").
    expect(bytes(s.get('MemoryMin') ?? s.get('MemoryLow'))).toBeGreaterThanOrEqual(60 * 1024 ** 2);
  });

  it('never caps the agent: no CPU quota, memory limit or real-time scheduling', () => {
    for (const key of ['CPUQuota', 'MemoryMax', 'MemoryHigh', 'MemoryLimit', 'CPUSchedulingPolicy']) expect(s.has(key), key).toBe(false);
  });

  it('restarts a dead agent: nobody else fences a primary whose agent is gone', () => {
    expect(s.get('Restart')).toBe('always');
  });
});
