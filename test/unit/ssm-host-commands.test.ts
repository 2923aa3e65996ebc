import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmHostCommands } from '../../adapters/ssm-host-commands.js';
import { PgvigilError } from '../../core/errors.js';
import type { Clock, HostAction } from '../../core/ports.js';
import { SSM_DOCUMENT_PARAMETERS, SSM_PARAMETER_PATTERNS, ssmDocumentName, ssmParameters } from '../../core/ssm-parameters.js';

/** A clock that only moves when the code under test sleeps. */
class FakeClock implements Clock {
  t = 1_000_000;
  slept: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.t += ms;
  }
}

function awsError(name: string, message = name): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

const promote: HostAction = { action: 'promote', clusterId: 'main', nodeId: 2, term: 7 };

describe('ssmParameters', () => {
  it('builds the parameters of each document from a host action, with the config file default', () => {
    expect(ssmParameters(promote)).toEqual({ ClusterId: ['main'], NodeId: ['2'], Term: ['7'], ConfigFile: ['/etc/pgvigil/repmgr.conf'] });
    expect(ssmParameters({ action: 'rejoin', clusterId: 'main', nodeId: 1, term: 8, upstreamNodeId: 2, forceRewind: true, configFile: '/etc/pg/r.conf' })).toEqual({
      ClusterId: ['main'],
      NodeId: ['1'],
      Term: ['8'],
      UpstreamNodeId: ['2'],
      ForceRewind: ['true'],
      ConfigFile: ['/etc/pg/r.conf'],
    });
  });

  it('refuses a value that would not match the document pattern, naming every bad parameter', () => {
    const bad = () => ssmParameters({ ...promote, clusterId: 'main; rm -rf /', configFile: '/etc/$(reboot)' });
    expect(bad).toThrow(PgvigilError);
    try {
      bad();
    } catch (e) {
      expect((e as PgvigilError).detail).toMatch(/ClusterId: .* does not match/);
      expect((e as PgvigilError).detail).toMatch(/ConfigFile: .* does not match/);
    }
  });

  it('refuses a follow without an upstream and a parameter the document does not take', () => {
    expect(() => ssmParameters({ action: 'follow', clusterId: 'main', nodeId: 3, term: 1 })).toThrow(/invalid parameters/);
    expect(() => ssmParameters({ ...promote, upstreamNodeId: 3 })).toThrow(/invalid parameters/);
  });

  it('declares a pattern for every parameter of every document', () => {
    for (const params of Object.values(SSM_DOCUMENT_PARAMETERS)) for (const p of params) expect(SSM_PARAMETER_PATTERNS[p]).toMatch(/^\^.*\$$/);
    expect(ssmDocumentName('pgvigil', 'unfence-primary')).toBe('pgvigil-Unfence');
  });
});

describe('SsmHostCommands', () => {
  const ssm = mockClient(SSMClient);
  let clock: FakeClock;
  let hosts: SsmHostCommands;

  beforeEach(() => {
    ssm.reset();
    clock = new FakeClock();
    hosts = new SsmHostCommands(new SSMClient({ region: 'us-east-1' }), { documentPrefix: 'pg', pollIntervalMs: 500, clock, retry: { random: () => 1 } });
  });

  it('sends the action to its document with validated parameters', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    expect(await hosts.send('i-1', promote)).toBe('c-1');
    const input = ssm.commandCalls(SendCommandCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ DocumentName: 'pg-Promote', InstanceIds: ['i-1'], Parameters: { NodeId: ['2'], Term: ['7'] } });
  });

  it('sends nothing when a parameter is invalid', async () => {
    await expect(hosts.send('i-1', { ...promote, clusterId: '../x' })).rejects.toThrow(/invalid parameters/);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('retries a throttled SendCommand with growing backoff and then succeeds', async () => {
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(awsError('ThrottlingException'))
      .rejectsOnce(awsError('ThrottlingException'))
      .resolves({ Command: { CommandId: 'c-2' } });
    expect(await hosts.send('i-1', promote)).toBe('c-2');
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(3);
    expect(clock.slept).toEqual([100, 200]);
  });

  it('does not retry a refused SendCommand and says what failed', async () => {
    ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 'Instances [i-1] not in a valid state'));
    await expect(hosts.send('i-1', promote)).rejects.toMatchObject({ code: 'AWS', message: 'could not send pg-Promote to instance i-1', retryable: false });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('polls past a not-yet-existing invocation and a running one to the terminal status', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(awsError('InvocationDoesNotExist'))
      .resolvesOnce({ Status: 'InProgress' })
      .resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'NOTICE: promoted' });
    expect(await hosts.wait('c-1', 'i-1', 10_000)).toEqual({ status: 'Success', exitCode: 0, output: 'NOTICE: promoted' });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
  });

  it.each([
    [{ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 8, StandardErrorContent: 'ERROR: promotion failed' }, { status: 'Failed', exitCode: 8 }],
    [{ Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 }, { status: 'Undeliverable', exitCode: null }],
    [{ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1 }, { status: 'TimedOut', exitCode: null }],
    [{ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' }, { status: 'TimedOut', exitCode: null }],
    [{ Status: 'Cancelled', StatusDetails: 'Cancelled' }, { status: 'Cancelled', exitCode: null }],
  ] as const)('maps SSM status %j to %j', async (invocation, expected) => {
    ssm.on(GetCommandInvocationCommand).resolves(invocation);
    expect(await hosts.wait('c-1', 'i-1', 10_000)).toMatchObject(expected);
  });

  it('reports TimedOut with the last status once its own bound has passed', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const result = await hosts.wait('c-1', 'i-1', 2000);
    expect(result).toMatchObject({ status: 'TimedOut', exitCode: null });
    expect(result.output).toMatch(/within 2000 ms \(last status: InProgress\)/);
    expect(clock.t - 1_000_000).toBe(2000);
  });

  it('retries throttled status reads', async () => {
    ssm.on(GetCommandInvocationCommand).rejectsOnce(awsError('ThrottlingException')).resolves({ Status: 'Success', ResponseCode: 0 });
    expect(await hosts.wait('c-1', 'i-1', 10_000)).toMatchObject({ status: 'Success' });
  });
});
