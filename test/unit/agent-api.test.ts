/**
 * What the agent's HTTP API answers (agent/api/answer.ts): Patroni's paths and status codes from
 * the daemon's latest facts, and a clear 4xx for a request it cannot answer.
 */
import { describe, expect, it } from 'vitest';
import { answer, parseLag, type ApiFacts } from '../../agent/api/answer.js';
import { parseConfirmRequest } from '../../agent/api/server.js';
import { secretFromText, sign, verify } from '../../agent/api/auth.js';
import { primaryServer, standbyServer } from '../support/cli-cluster.js';

const NOW_MONO = 100_000;

function facts(overrides: Partial<ApiFacts> = {}): ApiFacts {
  return {
    clusterId: 'c1',
    nodeId: 1,
    nodeName: 'node1',
    version: '0.1.0',
    server: primaryServer(),
    fenced: false,
    term: 3,
    primaryNodeId: 1,
    leaseHeld: true,
    failsafe: false,
    primaryLsn: '0/5000000',
    lastTickMono: NOW_MONO - 500,
    livenessMs: 10_000,
    ...overrides,
  };
}

const standby = (overrides: Partial<ApiFacts> = {}): ApiFacts => facts({ nodeId: 2, nodeName: 'node2', server: standbyServer(1), ...overrides });

function status(path: string, f: ApiFacts, method = 'GET'): number {
  const url = new URL(path, 'http://agent');
  return answer({ method, path: url.pathname, query: url.searchParams }, f, NOW_MONO).status;
}

describe('answer', () => {
  it.each([
    ['/primary', 200, 503],
    ['/', 200, 503],
    ['/read-write', 200, 503],
    ['/replica', 503, 200],
    ['/read-only', 200, 200],
    ['/health', 200, 200],
    ['/liveness', 200, 200],
    ['/readiness', 200, 200],
    ['/status', 200, 200],
  ])('answers %s with %i on the primary and %i on a streaming standby', (path, onPrimary, onStandby) => {
    expect(status(path, facts())).toBe(onPrimary);
    expect(status(path, standby())).toBe(onStandby);
  });

  it.each<[string, Partial<ApiFacts>]>([
    ['its lease does not hold', { leaseHeld: false }],
    ['it is fenced', { fenced: true }],
    ['the cluster record names another primary', { primaryNodeId: 2 }],
    ['it has not read the cluster record', { primaryNodeId: null, term: null }],
    ['its server does not accept connections', { server: primaryServer({ accepting_connections: false }) }],
  ])('does not route writes to a primary when %s', (_why, overrides) => {
    expect(status('/primary', facts(overrides))).toBe(503);
    expect(status('/read-only', facts(overrides))).toBe(503);
  });

  it('routes writes to a primary that holds its lease in failsafe mode', () => {
    const f = facts({ failsafe: true });
    expect(status('/primary', f)).toBe(200);
    expect(answer({ method: 'GET', path: '/status', query: new URLSearchParams() }, f, NOW_MONO).body).toMatchObject({ role: 'primary', failsafe: true, lease_held: true });
  });

  it('bounds a standby by the bytes it has not replayed behind the primary\'s last reported position', () => {
    const f = standby({ primaryLsn: '0/5200000', server: standbyServer(1, { receive_lsn: '0/5000000', replay_lsn: '0/5000000' }) });
    expect(status('/replica?lag=2MB', f)).toBe(200);
    expect(status('/replica?lag=2097152', f)).toBe(200);
    expect(status('/replica?lag=1MB', f)).toBe(503);
    expect(status('/readiness?lag=1MB', f)).toBe(503);
  });

  it('counts received WAL that is not replayed yet (replay paused or delayed) as lag, however current the receiver is', () => {
    // The heartbeat is older than what the standby has received: the received position bounds the primary's from below.
    const f = standby({ primaryLsn: '0/5000000', server: standbyServer(1, { receive_lsn: '0/7000000', replay_lsn: '0/5000000', replication_lag_secs: 30 }) });
    expect(status('/replica?lag=64MB', f)).toBe(200);
    expect(status('/replica?lag=1MB', f)).toBe(503);
    expect(answer({ method: 'GET', path: '/status', query: new URLSearchParams() }, f, NOW_MONO).body).toMatchObject({ lag: { bytes: 0x2000000, secs: 30 } });
    // Without a heartbeat of the primary (DynamoDB unreachable), what it received still shows what it has not replayed.
    expect(status('/replica?lag=1MB', { ...f, primaryLsn: null })).toBe(503);
    expect(status('/replica?lag=64MB', { ...f, primaryLsn: null })).toBe(200);
  });

  it('bounds a standby by its replay delay in time', () => {
    const f = standby({ server: standbyServer(1, { replication_lag_secs: 12 }) });
    expect(status('/replica?lag=10s', f)).toBe(503);
    expect(status('/replica?lag=15s', f)).toBe(200);
    expect(status('/replica?lag=1min', f)).toBe(200);
  });

  it('does not send reads to a standby whose lag is unknown when a bound is asked', () => {
    const unknown = standby({ primaryLsn: null, server: standbyServer(1, { receive_lsn: null, replication_lag_secs: null }) });
    expect(status('/replica?lag=1GB', unknown)).toBe(503);
    expect(status('/replica?lag=10min', unknown)).toBe(503);
    expect(status('/replica', unknown)).toBe(200);
  });

  it('does not send reads to a standby that is not streaming', () => {
    const f = standby({ server: standbyServer(1, { wal_receiver_status: null }) });
    expect(status('/replica', f)).toBe(503);
    expect(status('/read-only', f)).toBe(503);
    expect(status('/readiness', f)).toBe(200);
    expect(status('/health', f)).toBe(200);
  });

  it('reports the loop dead on /liveness once no tick has ended for livenessMs', () => {
    expect(status('/liveness', facts({ lastTickMono: NOW_MONO - 10_001 }))).toBe(503);
    expect(status('/liveness', facts({ lastTickMono: null }))).toBe(503);
  });

  it('answers HEAD and OPTIONS with the status code of GET', () => {
    expect(status('/primary', standby(), 'HEAD')).toBe(503);
    expect(status('/primary', facts(), 'OPTIONS')).toBe(200);
  });

  it.each([
    ['/nope', 'GET', 404, /unknown path \/nope/],
    ['/replica?lag=fast', 'GET', 400, /bad lag value "fast"/],
    ['/replica?lag=-1', 'GET', 400, /bad lag value/],
    ['/primary?foo=1', 'GET', 400, /unknown query parameter foo/],
    ['/primary', 'DELETE', 405, /method DELETE is not allowed/],
  ])('refuses %s (%s) with %i saying why', (path, method, code, message) => {
    const url = new URL(path, 'http://agent');
    const a = answer({ method, path: url.pathname, query: url.searchParams }, facts(), NOW_MONO);
    expect(a.status).toBe(code);
    expect(String(a.body.error)).toMatch(message);
  });
});

describe('parseLag', () => {
  it.each([
    ['1048576', { kind: 'bytes', bytes: 1048576 }],
    ['16kB', { kind: 'bytes', bytes: 16384 }],
    ['1MB', { kind: 'bytes', bytes: 1048576 }],
    ['10s', { kind: 'secs', secs: 10 }],
    ['500ms', { kind: 'secs', secs: 0.5 }],
    ['2min', { kind: 'secs', secs: 120 }],
  ])('reads %s', (text, bound) => {
    expect(parseLag(text)).toEqual({ ok: true, bound });
  });
});

describe('the failsafe request and its signature', () => {
  const secret = secretFromText('0123456789abcdef0123456789abcdef\n', 'test');

  it('accepts only a body signed with the same secret and label', () => {
    const body = '{"a":1}';
    const sig = sign(secret, 'request', body);
    expect(verify(secret, 'request', body, sig)).toBe(true);
    expect(verify(secret, 'answer', body, sig)).toBe(false);
    expect(verify(secret, 'request', '{"a":2}', sig)).toBe(false);
    expect(verify(Buffer.from('another secret of enough length'), 'request', body, sig)).toBe(false);
    expect(verify(secret, 'request', body, undefined)).toBe(false);
  });

  it('refuses a secret too short to be one', () => {
    expect(() => secretFromText('short', 'rest_api_secret_file /x')).toThrow(/rest_api_secret_file \/x holds a secret shorter than 16 bytes/);
  });

  it.each([
    ['not json', /not JSON/],
    ['[]', /JSON object/],
    ['{"cluster_id":"c","node_id":1,"term":1,"nonce":"00112233445566778899","x":1}', /unknown field x/],
    ['{"cluster_id":"c","node_id":0,"term":1,"nonce":"00112233445566778899"}', /node_id must be a positive integer/],
    ['{"cluster_id":"c","node_id":1,"term":1,"nonce":"zz"}', /nonce must be/],
  ])('names what is wrong with the body %s', (body, message) => {
    expect(parseConfirmRequest(body)).toMatch(message);
  });
});
