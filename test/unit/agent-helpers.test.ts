import { describe, expect, it } from 'vitest';
import { caughtUp, syncStandbyNames } from '../../agent/daemon/policy.js';
import { nodeForSender, timelineOfWalFile } from '../../agent/pg/local.js';
import { primaryConninfoFor } from '../../agent/actions/clone.js';
import { clientConfig } from '../../adapters/pg-session.js';
import { hostPort } from '../../core/conninfo.js';
import type { NodeRecord, ReplicationRow } from '../../core/model.js';

const row = (application_name: string, state: string, flush_lsn: string | null): ReplicationRow => ({
  application_name,
  client_addr: '127.0.0.1',
  state,
  sync_state: 'async',
  sent_lsn: flush_lsn,
  write_lsn: flush_lsn,
  flush_lsn,
  replay_lsn: flush_lsn,
});

describe('syncStandbyNames', () => {
  it.each([
    ['node2', ['node2']],
    ['node2, node3', ['node2', 'node3']],
    ['FIRST 1 (node2, "node 3")', ['node2', 'node 3']],
    ['ANY 2 (a,b,c)', ['a', 'b', 'c']],
    ['*', ['*']],
    ['', []],
  ])('reads the standby names of %j', (value, names) => {
    expect(syncStandbyNames(value)).toEqual(names);
  });
});

describe('caughtUp', () => {
  it('needs a named standby that streams and has flushed to within the allowed lag', () => {
    expect(caughtUp([row('node2', 'streaming', '0/3000000')], ['node2'], '0/3000100')).toBe(true);
    expect(caughtUp([row('node2', 'catchup', '0/3000000')], ['node2'], '0/3000000')).toBe(false);
    expect(caughtUp([row('node3', 'streaming', '0/3000000')], ['node2'], '0/3000000')).toBe(false);
    expect(caughtUp([row('node2', 'streaming', '0/1000000')], ['node2'], '0/9000000')).toBe(false);
    expect(caughtUp([row('anything', 'streaming', '0/3000000')], ['*'], '0/3000000')).toBe(true);
  });
});

describe('timelineOfWalFile', () => {
  it('reads the timeline from the first eight hex digits of a WAL file name', () => {
    expect(timelineOfWalFile('000000020000000000000003')).toBe(2);
    expect(timelineOfWalFile('0000001A0000000100000003')).toBe(26);
  });
});

describe('nodeForSender', () => {
  const node = (node_id: number, conninfo: string): NodeRecord =>
    ({ node_id, conninfo }) as NodeRecord;
  it('maps a WAL sender host and port to the node whose conninfo names them', () => {
    const nodes = [node(1, 'host=10.0.0.1 port=5432 user=repmgr'), node(2, 'postgresql://repmgr@10.0.0.2:5433/repmgr')];
    expect(nodeForSender(nodes, '10.0.0.2', 5433)).toBe(2);
    expect(nodeForSender(nodes, '10.0.0.1', 5432)).toBe(1);
    expect(nodeForSender(nodes, '10.0.0.1', 5433)).toBeNull();
  });
});

describe('primaryConninfoFor', () => {
  it('streams as the replication user under this node name, without dbname or password', () => {
    const text = primaryConninfoFor("host=10.0.0.1 port=5432 user=repmgr dbname=repmgr password='s3cret' connect_timeout=2", 'node2', 'replicator');
    expect(text).not.toMatch(/password|s3cret|dbname/);
    expect(text).toMatch(/user=replicator/);
    expect(text).toMatch(/application_name=node2/);
    expect(hostPort(text)).toEqual({ host: '10.0.0.1', port: 5432 });
  });
});

describe('clientConfig', () => {
  it('never passes a password from the conninfo to the client (.pgpass supplies it)', () => {
    const c = clientConfig('host=db port=6432 user=repmgr dbname=repmgr password=secret sslmode=require');
    expect(c).toMatchObject({ host: 'db', port: 6432, user: 'repmgr', database: 'repmgr', ssl: { rejectUnauthorized: false } });
    expect(c.password).toBeUndefined();
  });
});

describe('the host actions under pgvigil', () => {
  it('answers "pgvigil rejoin --help" and "pgvigil standby clone --help" with the agent commands', async () => {
    const { runProgram } = await import('../../shell/framework.js');
    const { memoryOutput } = await import('../../shell/output.js');
    const program = (await import('../../cli/main.js')).cliProgram();
    for (const words of [['rejoin'], ['standby', 'clone'], ['fence'], ['demote']]) {
      const out = memoryOutput();
      expect(await runProgram(program, [...words, '--help'], out, {})).toBe(0);
      expect(out.stdout[0]).toMatch(new RegExp(`^pgvigil ${words.join(' ')}: `));
      expect(out.stdout.join('\n')).toContain('--term=N');
    }
  });

  it('rejects a --term that is not an integer before reading anything', async () => {
    const { runProgram } = await import('../../shell/framework.js');
    const { memoryOutput } = await import('../../shell/output.js');
    const { agentProgram } = await import('../../agent/main.js');
    const out = memoryOutput();
    expect(await runProgram(agentProgram(), ['promote', '-f', '/nonexistent/repmgr.conf', '--term', 'x'], out, {})).toBe(1);
    expect(out.stderr[0]).toBe('ERROR: option --term expects an integer, got "x"');
  });
});
