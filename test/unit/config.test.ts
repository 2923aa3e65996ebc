import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_KEYS,
  CONFIG_KEY_NAMES,
  REPMGR_UNUSED_KEYS,
  clusterSettingsFromConfig,
  parseConfig,
  renderConfigKeysMarkdown,
  type ConfigKey,
} from '../../core/config/index.js';
import { ConfigError, type ConfigProblem } from '../../core/errors.js';
import { CLUSTER_SETTING_KEYS } from '../../core/config/settings.js';
import { ClusterSettingsSchema, DEFAULT_CLUSTER_SETTINGS } from '../../core/model.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/config/${name}`, import.meta.url), 'utf8');

const BASE = [
  'node_id=1',
  "node_name='node1'",
  "conninfo='host=db1 user=repmgr dbname=repmgr connect_timeout=2'",
  "data_directory='/var/lib/postgresql/15/main'",
];
const conf = (...extra: string[]): string => [...BASE, ...extra].join('\n');

function problemsOf(text: string, env: Record<string, string> = {}): ConfigProblem[] {
  try {
    parseConfig(text, 'repmgr.conf', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig on the seed documents', () => {
  it('loads the repmgr.conf of section 1.4 of seed 001', () => {
    const { config, notices, sources } = parseConfig(fixture('seed-001-section-1.4.repmgr.conf'), 'seed-001');
    expect(config).toMatchObject({
      node_id: 1,
      node_name: 'node1',
      conninfo: 'host=192.168.100.2 port=5432 user=repmgr dbname=repmgr connect_timeout=2',
      data_directory: '/data/pgsql/main',
      replication_user: 'repmgr',
      pg_bindir: '/usr/lib/postgresql/11/bin',
      log_level: 'INFO',
      log_file: '/data/pglog/repmgr/repmgrd.log',
      log_status_interval: 10,
      failover: 'automatic',
      location: 'location1',
      priority: 100,
      monitoring_history: true,
      reconnect_interval: 10,
      reconnect_attempts: 6,
      connection_check_type: 'ping',
      monitor_interval_secs: 5,
      use_replication_slots: true,
      service_stop_command: '/usr/lib/postgresql/11/bin/pg_ctl stop',
      // \' inside a single-quoted value is a quote, as in postgresql.conf.
      service_reload_command: "su - postgres -c '/usr/lib/postgresql/11/bin/pg_ctl reload' ",
      cluster_id: 'default',
    });
    expect(config.service_start_command).toBe(
      "/usr/lib/postgresql/11/bin/pg_ctl -D /data/pgsql/main/ start -o '-c config_file=/etc/postgresql/11/main/postgresql.conf' -l /data/pglog/start.log",
    );
    expect(sources.node_id).toBe('file');
    expect(sources.cluster_id).toBe('default');
    expect(notices).toContain(
      'these repmgr keys are accepted but not used by pgvigil: repmgr_bindir (line 6), repmgrd_pid_file (line 21), repmgrd_service_start_command (line 22), repmgrd_service_stop_command (line 23), promote_command (line 27), follow_command (line 28)',
    );
  });

  it('loads the final repmgr.conf of seed 003', () => {
    const { config, notices } = parseConfig(fixture('seed-003-final.repmgr.conf'), 'seed-003');
    expect(config).toMatchObject({
      node_id: 3,
      node_name: 'db3',
      data_directory: '/var/lib/postgresql/12/main',
      failover: 'automatic',
      monitor_interval_secs: 2,
      connection_check_type: 'ping',
      reconnect_attempts: 2,
      reconnect_interval: 2,
      use_replication_slots: true,
      primary_visibility_consensus: true,
      standby_disconnect_on_failover: true,
      service_start_command: 'sudo systemctl start postgresql.service',
    });
    expect(notices.some((n) => n.includes('promote_command (line 6), follow_command (line 7)'))).toBe(true);
    expect(notices.filter((n) => n.includes('not used by pgvigil'))).toHaveLength(1);
  });

  it('rejects the first repmgr.conf of seed 003, whose quoted conninfo runs over two lines', () => {
    const text = "node_id=1\nnode_name='PG-Node1'\nconninfo='host=192.168.122.132 user=repmgr dbname=repmgr \nconnect_timeout=2'\ndata_directory='/var/lib/pgsql/12/data'\n";
    const problems = problemsOf(text);
    expect(problems[0]).toMatchObject({ line: 3, key: 'conninfo', message: expect.stringContaining('unterminated quoted value') });
    // The broken conninfo is reported once, not again as "missing"; line 4 reads as an unknown key.
    expect(problems).toHaveLength(1);
  });
});

describe('parseConfig errors', () => {
  it('names line 7 and priority for priority=abc on line 7', () => {
    const problems = problemsOf(conf("location='eu-west-1a'", '# comment', 'priority=abc'));
    expect(problems).toEqual([
      { file: 'repmgr.conf', line: 7, key: 'priority', message: 'expected an integer from 0 to 2147483647, got "abc"' },
    ]);
  });

  it('formats each problem as FILE:LINE: "key": what was expected', () => {
    try {
      parseConfig(conf('priority=abc'), '/etc/pgvigil/repmgr.conf');
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).code).toBe('BAD_CONFIG');
      expect((error as ConfigError).message).toBe('/etc/pgvigil/repmgr.conf:5: "priority": expected an integer from 0 to 2147483647, got "abc"');
    }
  });

  it.each<[string, ConfigKey, string]>([
    ['node_id=0', 'node_id', 'expected an integer from 1 to 2147483647, got "0"'],
    ['node_id=1.5', 'node_id', 'expected an integer from 1 to 2147483647, got "1.5"'],
    ['node_id=', 'node_id', 'expected an integer from 1 to 2147483647, got an empty value'],
    ['node_id=99999999999', 'node_id', 'expected an integer from 1 to 2147483647, got "99999999999"'],
    ['priority=-1', 'priority', 'expected an integer from 0 to 2147483647, got "-1"'],
    ['reconnect_attempts=many', 'reconnect_attempts', 'expected an integer from 0 to 1000, got "many"'],
    ['monitor_interval_secs=fast', 'monitor_interval_secs', 'expected a number from 0.1 to 3600, got "fast"'],
    ['heartbeat_interval_secs=0', 'heartbeat_interval_secs', 'expected a number from 0.1 to 3600, got "0"'],
    ['lease_secs=1e3', 'lease_secs', 'expected a number from 0.2 to 3600, got "1e3"'],
    ['use_replication_slots=maybe', 'use_replication_slots', 'expected a boolean (true/false, on/off, yes/no, 1/0), got "maybe"'],
    ['monitoring_history=', 'monitoring_history', 'expected a boolean (true/false, on/off, yes/no, 1/0), got an empty value'],
    ['failover=sometimes', 'failover', 'expected one of automatic, manual, got "sometimes"'],
    ['connection_check_type=tcp', 'connection_check_type', 'expected one of ping, connection, query, got "tcp"'],
    ['fence_mode=stonith', 'fence_mode', 'expected one of ssm-then-stop-instance, ssm-only, none, got "stonith"'],
    ['log_level=verbose', 'log_level', 'expected one of DEBUG, INFO, NOTICE, WARNING, ERROR, ALERT, CRIT, EMERG, got "verbose"'],
    ['maximum_lag_on_failover=lots', 'maximum_lag_on_failover', 'expected a size in bytes from 0 to 9007199254740991, optionally with a unit (kB, MB, GB, TB), e.g. 16MB, got "lots"'],
    ['maximum_lag_on_failover=16XB', 'maximum_lag_on_failover', 'expected a size in bytes from 0 to 9007199254740991, optionally with a unit (kB, MB, GB, TB), e.g. 16MB, got "16XB"'],
    [`node_name='${'n'.repeat(64)}'`, 'node_name', 'expected at most 63 characters, got 64'],
    ["node_name='nœud'", 'node_name', 'expected printable ASCII characters only'],
    ["node_name=''", 'node_name', 'expected a node name (1-63 ASCII characters), got an empty value'],
    ["conninfo='host=db1 port'", 'conninfo', 'invalid conninfo: missing "=" after "port"'],
    ["conninfo='postgresql://db1/x?colour=blue'", 'conninfo', 'invalid conninfo: invalid URI query parameter "colour"'],
    ["data_directory='pgdata'", 'data_directory', 'expected an absolute path (starting with "/"), got "pgdata"'],
    ["pg_bindir='bin'", 'pg_bindir', 'expected an absolute path (starting with "/"), got "bin"'],
    ["location=''", 'location', 'expected a text value, got an empty value (leave the key out to use the default "default")'],
    ["cluster_id='my cluster'", 'cluster_id', 'expected 1-63 letters, digits, "_", "." or "-" starting with a letter or digit, got "my cluster"'],
    ['aws_region=europe', 'aws_region', 'expected an AWS region such as eu-west-1, got "europe"'],
    ['state_table=t', 'state_table', 'expected a DynamoDB table name (3-255 letters, digits, "_", "." or "-"), got "t"'],
    ['instance_id=web-1', 'instance_id', 'expected an EC2 instance id such as i-0123456789abcdef0, got "web-1"'],
    ['vip_allocation_id=1.2.3.4', 'vip_allocation_id', 'expected an Elastic IP allocation id such as eipalloc-0123456789abcdef0, got "1.2.3.4"'],
    ['route53_zone_id=zone-1', 'route53_zone_id', 'expected a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, got "zone-1"'],
    ['route53_zone_id=Z0123456789ABCDEFGHIJ', 'route53_record_name', 'route53_zone_id and route53_record_name go together: set both for a Route 53 record that follows the primary, or neither'],
    ["route53_record_name='db'", 'route53_record_name', 'expected a fully qualified DNS name such as primary.orders.internal, got "db"'],
    ['route53_ttl=-1', 'route53_ttl', 'expected an integer from 0 to 86400, got "-1"'],
    ["writer_endpoint='nlb.internal:99999'", 'writer_endpoint', 'expected host[:port] (a port from 1 to 65535; an IPv6 address in brackets), got "nlb.internal:99999"'],
    ["reader_endpoint='http://nlb.internal'", 'reader_endpoint', 'expected host[:port] (a port from 1 to 65535; an IPv6 address in brackets), got "http://nlb.internal"'],
    ['rest_api_listen=8008', 'rest_api_listen', 'expected address:port (a port from 1 to 65535; an IPv6 address in brackets), got "8008"'],
    ["rest_api_secret_arn='agent-api'", 'rest_api_secret_arn', 'expected a Secrets Manager secret ARN, got "agent-api"'],
    ["rest_api_secret_file='secret'", 'rest_api_secret_file', 'expected an absolute path (starting with "/"), got "secret"'],
    ['clock_skew_margin_ms=-5', 'clock_skew_margin_ms', 'expected an integer from 0 to 600000, got "-5"'],
    ['rest_api_lag_sample_ms=20', 'rest_api_lag_sample_ms', 'expected 0 (sample only at each monitoring tick) or 50 to 60000 ms, got 20: a shorter period would query the server all the time'],
    ['rest_api_lag_sample_ms=0.5', 'rest_api_lag_sample_ms', 'expected an integer from 0 to 60000, got "0.5"'],
    ['rest_api_lag_sample_ms=61000', 'rest_api_lag_sample_ms', 'expected an integer from 0 to 60000, got "61000"'],
    ['replication_lag_warning=900', 'replication_lag_critical', 'expected more than replication_lag_warning (900), got 600'],
    ['archive_ready_critical=16', 'archive_ready_critical', 'expected more than archive_ready_warning (16), got 16'],
    ['lease_secs=8', 'lease_secs', 'expected at least 2 × heartbeat_interval_secs (10), got 8: the lease is renewed with each heartbeat and must outlive one lost write'],
    ['node_timeout_secs=5', 'node_timeout_secs', 'expected more than heartbeat_interval_secs (5), got 5: every heartbeat would be stale'],
  ])('rejects %s on its line with what was expected', (line, key, message) => {
    expect(problemsOf(conf(line))).toEqual([{ file: 'repmgr.conf', line: 5, key, message }]);
  });

  it('reports every problem of the file at once, in line order, missing keys last', () => {
    const text = ['node_name=node1', 'priority=abc', 'failover=auto', "conninfo='host=db1", 'garbage line here', 'use_replication_slots=perhaps'].join('\n');
    const problems = problemsOf(text);
    expect(problems.map((p) => [p.line, p.key])).toEqual([
      [2, 'priority'],
      [3, 'failover'],
      [4, 'conninfo'],
      [5, undefined],
      [6, 'use_replication_slots'],
      [undefined, 'node_id'],
      [undefined, 'data_directory'],
    ]);
  });

  it('names every missing required key with what it expects', () => {
    expect(problemsOf('# empty\n')).toEqual([
      { file: 'repmgr.conf', line: undefined, key: 'node_id', message: 'required key is missing: expected node_id=<an integer from 1 to 2147483647>' },
      { file: 'repmgr.conf', line: undefined, key: 'node_name', message: 'required key is missing: expected node_name=<a node name (1-63 ASCII characters)>' },
      {
        file: 'repmgr.conf',
        line: undefined,
        key: 'conninfo',
        message: "required key is missing: expected conninfo=<a libpq connection string such as 'host=db1 user=repmgr dbname=repmgr'>",
      },
      { file: 'repmgr.conf', line: undefined, key: 'data_directory', message: 'required key is missing: expected data_directory=<an absolute path>' },
    ]);
  });

  it.each([
    ["node_name='node1' extra", 'unexpected text after the quoted value: "extra" (quote the whole value, or start a comment with #)'],
    ['some words here', 'expected key=value, found "some words here"'],
    ['= 5', 'expected key=value, found "= 5"'],
    ['5=priority', 'expected key=value, found "5=priority"'],
    ['priority', 'expected key=value, found "priority"'],
    ["include '/etc/repmgr.d/node.conf'", 'include directives are not supported: put the settings in this file'],
  ])('rejects the malformed line %j', (line, message) => {
    expect(problemsOf(conf(line))[0]).toMatchObject({ line: 5, message });
  });

  it.each([
    "conninfo='host=db1' password=hunter2",
    "conninfo='host=db1 password=hunter 2'",
    "conninfo='postgresql://u:hunter2%zz@db1/x'",
    'password hunter2 more',
  ])('never quotes a password back in an error, as for %j', (line) => {
    const problems = problemsOf(conf(line));
    expect(problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(problems)).not.toContain('hunter');
  });

  it('bounds a list: how many items, and how long each is', () => {
    const many = Array.from({ length: 101 }, (_, i) => `event_${i}`).join(',');
    expect(problemsOf(conf(`event_notifications=${many}`))).toEqual([
      { file: 'repmgr.conf', line: 5, key: 'event_notifications', message: 'expected at most 100 items, got 101' },
    ]);
    expect(problemsOf(conf(`event_notifications=standby_promote,${'e'.repeat(65)}`))[0]?.message).toMatch(/^expected items of at most 64 characters, got "e{60}…"$/);
  });

  it('reports a cross-key problem on the line of the key the user set', () => {
    expect(problemsOf(conf('# x', 'heartbeat_interval_secs=15'))).toEqual([
      {
        file: 'repmgr.conf',
        line: 6,
        key: 'lease_secs',
        message: 'expected at least 2 × heartbeat_interval_secs (30), got 20: the lease is renewed with each heartbeat and must outlive one lost write',
      },
    ]);
  });
});

describe('parseConfig syntax', () => {
  it.each<[string, ConfigKey, unknown]>([
    ["node_name = 'node1'   # a comment", 'node_name', 'node1'],
    ['node_name=node1 # a comment', 'node_name', 'node1'],
    ['node_name node1', 'node_name', 'node1'],
    ["node_name\t=\t'node1'", 'node_name', 'node1'],
    ['node_name="node1"', 'node_name', 'node1'],
    ["failover_validation_command='/bin/check %n # not a comment'", 'failover_validation_command', '/bin/check %n # not a comment'],
    ["failover_validation_command='it''s'", 'failover_validation_command', "it's"],
    ["failover_validation_command='a\\tb\\nc\\\\d\\101'", 'failover_validation_command', 'a\tb\nc\\dA'],
    ['failover_validation_command="say \\"hi\\""', 'failover_validation_command', 'say "hi"'],
    ['service_start_command=sudo systemctl start postgresql', 'service_start_command', 'sudo systemctl start postgresql'],
    ['NODE_NAME=upper', 'node_name', 'upper'],
    ['monitor_interval_secs=0.5', 'monitor_interval_secs', 0.5],
    ['priority=+7', 'priority', 7],
    ['log_level=debug', 'log_level', 'DEBUG'],
    ['failover=MANUAL', 'failover', 'manual'],
    ['maximum_lag_on_failover=16MB', 'maximum_lag_on_failover', 16 * 1024 * 1024],
    ['maximum_lag_on_failover=1048576', 'maximum_lag_on_failover', 1048576],
    ['maximum_lag_on_failover=8 kB', 'maximum_lag_on_failover', 8192],
    ["maximum_lag_on_failover=''", 'maximum_lag_on_failover', null],
    ['event_notifications=standby_promote, repmgrd_failover_promote', 'event_notifications', ['standby_promote', 'repmgrd_failover_promote']],
    ["event_notifications=''", 'event_notifications', ['all']],
    ['event_notifications=all', 'event_notifications', ['all']],
  ])('reads %j', (line, key, value) => {
    expect(parseConfig(conf(line), 'repmgr.conf').config[key]).toEqual(value);
  });

  it.each(['true', 'on', 'yes', '1', 'TRUE', 'Yes', 't', 'y', "'on'"])('reads %j as true', (text) => {
    expect(parseConfig(conf(`use_replication_slots=${text}`), 'f').config.use_replication_slots).toBe(true);
  });

  it.each(['false', 'off', 'no', '0', 'OFF', 'f', 'n', '"no"'])('reads %j as false', (text) => {
    expect(parseConfig(conf(`primary_visibility_consensus=${text}`), 'f').config.primary_visibility_consensus).toBe(false);
  });

  it('reads CRLF line endings, a byte-order mark, blank lines and indented comments', () => {
    const text = `\uFEFF${BASE.join('\r\n')}\r\n\r\n   # indented comment\r\n\tpriority = 5\r\n`;
    const { config, origins } = parseConfig(text, 'f');
    expect(config.node_id).toBe(1);
    expect(config.data_directory).toBe('/var/lib/postgresql/15/main');
    expect(config.priority).toBe(5);
    expect(origins.priority).toEqual({ source: 'file', line: 7 });
  });

  it('keeps the last of a key set twice, with a notice naming the lines', () => {
    const { config, notices, origins } = parseConfig(conf('priority=10', 'priority=20'), 'f');
    expect(config.priority).toBe(20);
    expect(origins.priority).toEqual({ source: 'file', line: 6 });
    expect(notices).toContain('"priority" is set on lines 5, 6; the last one (line 6) counts');
  });

  it('validates only the value that counts when a key is set twice', () => {
    expect(parseConfig(conf('priority=abc', 'priority=20'), 'f').config.priority).toBe(20);
  });
});

describe('parseConfig notices', () => {
  it('names the repmgr keys it does not use in one notice, never as errors', () => {
    const { notices } = parseConfig(conf("promote_command='repmgr standby promote'", "log_facility='STDERR'", "ssh_options='-q'"), 'f');
    const unused = notices.filter((n) => n.includes('not used by pgvigil'));
    expect(unused).toEqual(['these repmgr keys are accepted but not used by pgvigil: promote_command (line 5), log_facility (line 6), ssh_options (line 7)']);
  });

  it('accepts every repmgr key pgvigil does not use', () => {
    const lines = Object.keys(REPMGR_UNUSED_KEYS).map((k) => `${k}='x'`);
    const { notices } = parseConfig(conf(...lines), 'f');
    expect(notices.find((n) => n.includes('not used by pgvigil'))).toContain('witness_repl_nodes_sync_interval_secs');
  });

  it('ignores unknown keys with one notice and a spelling hint', () => {
    const { notices } = parseConfig(conf('priorty=5', 'colour=blue'), 'f');
    expect(notices).toContain('unknown keys ignored: priorty (line 5; did you mean "priority"?), colour (line 6)');
  });

  it('says when conninfo holds a password, without printing it', () => {
    const { notices } = parseConfig(conf("conninfo='host=db1 password=hunter2'"), 'f');
    expect(notices.some((n) => n.startsWith('conninfo (line 5) contains a password'))).toBe(true);
    expect(notices.join('\n')).not.toContain('hunter2');
  });

  it('says when cluster_id falls back to "default"', () => {
    expect(parseConfig(conf(), 'f').notices.some((n) => n.startsWith('cluster_id is not set'))).toBe(true);
    expect(parseConfig(conf('cluster_id=orders'), 'f').notices.some((n) => n.startsWith('cluster_id'))).toBe(false);
  });

  it('names event_notifications entries pgvigil never raises', () => {
    const { notices } = parseConfig(conf('event_notifications=standby_promote,repmgrd_start'), 'f');
    expect(notices).toContain('event_notifications: this event is not raised by pgvigil: repmgrd_start');
  });
});

describe('parseConfig defaults', () => {
  const { config, sources } = parseConfig(conf(), 'f');

  it('uses repmgr\'s defaults for repmgr keys', () => {
    expect(config).toMatchObject({
      location: 'default',
      priority: 100,
      use_replication_slots: false,
      monitor_interval_secs: 2,
      reconnect_attempts: 6,
      reconnect_interval: 10,
      connection_check_type: 'ping',
      standby_disconnect_on_failover: false,
      sibling_nodes_disconnect_timeout: 30,
      failover_validation_command: '',
      promote_check_timeout: 60,
      promote_check_interval: 1,
      primary_follow_timeout: 60,
      standby_reconnect_timeout: 60,
      node_rejoin_timeout: 60,
      shutdown_check_timeout: 60,
      wal_receive_check_timeout: 30,
      service_start_command: '',
      monitoring_history: false,
      log_level: 'INFO',
      log_file: '',
      log_status_interval: 300,
      event_notifications: ['all'],
      replication_lag_warning: 300,
      replication_lag_critical: 600,
      archive_ready_warning: 16,
      archive_ready_critical: 128,
      election_rerun_interval: 15,
    });
  });

  it('uses pgvigil\'s own defaults for its own keys and where it departs from repmgr', () => {
    expect(config).toMatchObject({
      failover: 'automatic',
      primary_visibility_consensus: true,
      cluster_id: 'default',
      state_table: 'pgvigil',
      heartbeat_interval_secs: 5,
      lease_secs: 20,
      clock_skew_margin_ms: 1000,
      node_timeout_secs: 15,
      maximum_lag_on_failover: null,
      fence_mode: 'ssm-then-stop-instance',
      auto_rejoin: false,
      failover_on_location_loss: true,
      sync_downgrade_after_secs: 0,
      rest_api_lag_sample_ms: 200,
    });
    expect(sources.heartbeat_interval_secs).toBe('default');
  });

  it('derives node_timeout_secs from heartbeat_interval_secs unless it is set', () => {
    expect(parseConfig(conf('heartbeat_interval_secs=2'), 'f').config.node_timeout_secs).toBe(6);
    expect(parseConfig(conf('heartbeat_interval_secs=2', 'node_timeout_secs=9'), 'f').config.node_timeout_secs).toBe(9);
  });

  it('has a table entry with a description for every key', () => {
    const spec = [
      'node_id', 'node_name', 'conninfo', 'data_directory', 'location', 'priority', 'replication_user', 'pg_bindir',
      'use_replication_slots', 'failover', 'monitor_interval_secs', 'reconnect_attempts', 'reconnect_interval',
      'connection_check_type', 'primary_visibility_consensus', 'standby_disconnect_on_failover',
      'sibling_nodes_disconnect_timeout', 'failover_validation_command', 'promote_check_timeout', 'promote_check_interval',
      'primary_follow_timeout', 'standby_reconnect_timeout', 'node_rejoin_timeout', 'shutdown_check_timeout',
      'wal_receive_check_timeout', 'service_start_command', 'service_stop_command', 'service_restart_command',
      'service_reload_command', 'service_promote_command', 'monitoring_history', 'log_level', 'log_file',
      'log_status_interval', 'event_notifications', 'replication_lag_warning', 'replication_lag_critical',
      'archive_ready_warning', 'archive_ready_critical', 'election_rerun_interval', 'cluster_id', 'aws_region',
      'state_table', 'instance_id', 'vip_allocation_id', 'heartbeat_interval_secs', 'lease_secs', 'clock_skew_margin_ms',
      'maximum_lag_on_failover', 'fence_mode', 'auto_rejoin', 'failover_on_location_loss', 'sync_downgrade_after_secs',
    ];
    for (const key of spec) expect(CONFIG_KEY_NAMES).toContain(key);
    for (const key of CONFIG_KEY_NAMES) {
      expect(CONFIG_KEYS[key].description.length, key).toBeGreaterThan(10);
      expect(Object.hasOwn(REPMGR_UNUSED_KEYS, key), key).toBe(false);
    }
  });
});

describe('parseConfig environment overrides', () => {
  it.each<[string, ConfigKey, unknown]>([
    ['PGVIGIL_CLUSTER_ID', 'cluster_id', 'orders'],
    ['AWS_REGION', 'aws_region', 'eu-central-1'],
    ['PGVIGIL_STATE_TABLE', 'state_table', 'pgvigil-prod'],
    ['PGVIGIL_INSTANCE_ID', 'instance_id', 'i-0123456789abcdef0'],
    ['PGVIGIL_VIP_ALLOCATION_ID', 'vip_allocation_id', 'eipalloc-0123456789abcdef0'],
    ['PGVIGIL_PRIORITY', 'priority', 0],
    ['PGVIGIL_FAILOVER_ON_LOCATION_LOSS', 'failover_on_location_loss', false],
  ])('%s overrides %s', (variable, key, value) => {
    const text = conf('cluster_id=from-file', 'aws_region=us-east-1', 'priority=50', 'failover_on_location_loss=on');
    const env = { [variable]: String(value === false ? 'off' : value) };
    const { config, sources, origins } = parseConfig(text, 'f', env);
    expect(config[key]).toEqual(value);
    expect(sources[key]).toBe('env');
    expect(origins[key]).toEqual({ source: 'env', variable });
  });

  it('prefers PGVIGIL_AWS_REGION over AWS_REGION', () => {
    expect(parseConfig(conf(), 'f', { AWS_REGION: 'us-east-1', PGVIGIL_AWS_REGION: 'eu-west-1' }).config.aws_region).toBe('eu-west-1');
  });

  it('lets the environment supply a required key', () => {
    const text = BASE.filter((l) => !l.startsWith('node_id')).join('\n');
    expect(parseConfig(text, 'f', { PGVIGIL_NODE_ID: '7' }).config.node_id).toBe(7);
  });

  it('ignores empty variables and variables that name no key', () => {
    const { config, sources } = parseConfig(conf('cluster_id=a'), 'f', { PGVIGIL_CLUSTER_ID: '', PGVIGIL_TABLE: 'x', PGVIGIL_COLOUR: 'blue' });
    expect(config.cluster_id).toBe('a');
    expect(sources.cluster_id).toBe('file');
  });

  it('reports a bad value from the environment naming the variable', () => {
    expect(problemsOf(conf(), { PGVIGIL_PRIORITY: 'high', PGVIGIL_CLUSTER_ID: 'a b' })).toEqual([
      { file: 'environment variable PGVIGIL_PRIORITY', line: undefined, key: 'priority', message: 'expected an integer from 0 to 2147483647, got "high"' },
      {
        file: 'environment variable PGVIGIL_CLUSTER_ID',
        line: undefined,
        key: 'cluster_id',
        message: 'expected 1-63 letters, digits, "_", "." or "-" starting with a letter or digit, got "a b"',
      },
    ]);
  });
});

describe('clusterSettingsFromConfig', () => {
  it('gives the model\'s defaults for a plain repmgr.conf', () => {
    const settings = clusterSettingsFromConfig(parseConfig(conf(), 'f').config);
    expect(settings).toEqual(DEFAULT_CLUSTER_SETTINGS);
  });

  it('carries the controller\'s keys, publishing all events as null and no VIP as null', () => {
    const { config } = parseConfig(
      conf(
        'failover=manual',
        'heartbeat_interval_secs=2',
        'lease_secs=10',
        'maximum_lag_on_failover=16MB',
        'failover_on_location_loss=false',
        'fence_mode=ssm-only',
        'event_notifications=standby_promote,failover_started',
        'vip_allocation_id=eipalloc-0123456789abcdef0',
        'route53_zone_id=Z0123456789ABCDEFGHIJ',
        "route53_record_name='Primary.Orders.internal.'",
        'route53_ttl=10',
        "writer_endpoint='orders-nlb.elb.eu-west-1.amazonaws.com:5432'",
        "reader_endpoint='orders-nlb.elb.eu-west-1.amazonaws.com:5433'",
        "rest_api_listen='10.0.0.5:8008'",
        "failover_validation_command='/usr/local/bin/check %n'",
      ),
      'f',
    );
    const settings = clusterSettingsFromConfig(config);
    expect(settings).toMatchObject({
      failover: 'manual',
      heartbeat_interval_secs: 2,
      node_timeout_secs: 6,
      lease_secs: 10,
      maximum_lag_on_failover: 16 * 1024 * 1024,
      failover_on_location_loss: false,
      fence_mode: 'ssm-only',
      event_notifications: ['standby_promote', 'failover_started'],
      vip_allocation_id: 'eipalloc-0123456789abcdef0',
      route53_zone_id: 'Z0123456789ABCDEFGHIJ',
      route53_record_name: 'Primary.Orders.internal.',
      route53_ttl: 10,
      writer_endpoint: 'orders-nlb.elb.eu-west-1.amazonaws.com:5432',
      reader_endpoint: 'orders-nlb.elb.eu-west-1.amazonaws.com:5433',
      failover_validation_command: '/usr/local/bin/check %n',
    });
    // The agent API's keys are the agent's alone: the controller never needs them.
    expect(settings).not.toHaveProperty('rest_api_listen');
    expect(ClusterSettingsSchema.safeParse(settings).success).toBe(true);
  });

  it('is valid for the model at every extreme the parser accepts', () => {
    const extremes = conf(
      'heartbeat_interval_secs=1800', 'lease_secs=3600', 'node_timeout_secs=36000', 'clock_skew_margin_ms=600000',
      'reconnect_attempts=1000', 'reconnect_interval=3600', 'maximum_lag_on_failover=0', 'promote_check_timeout=1',
      'primary_follow_timeout=1', 'election_rerun_interval=0', 'sibling_nodes_disconnect_timeout=0',
    );
    expect(() => clusterSettingsFromConfig(parseConfig(extremes, 'f').config)).not.toThrow();
  });
});

describe('the cluster settings, derived from the key table', () => {
  it('default to the key table\'s defaults, null where the configuration means none or all', () => {
    for (const key of CLUSTER_SETTING_KEYS) {
      const unset = ['vip_allocation_id', 'route53_zone_id', 'route53_record_name', 'writer_endpoint', 'reader_endpoint', 'event_notifications'].includes(key);
      expect(DEFAULT_CLUSTER_SETTINGS[key], key).toEqual(unset ? null : CONFIG_KEYS[key].default);
    }
  });

  it('enforce the key table\'s ranges: the bounds are accepted, one step beyond is refused naming the key', () => {
    for (const key of CLUSTER_SETTING_KEYS) {
      const { min, max, type } = CONFIG_KEYS[key] as { min?: number; max?: number; type: string };
      const step = type === 'number' ? 0.01 : 1;
      for (const ok of [min, max]) if (ok !== undefined) expect(ClusterSettingsSchema.check({ [key]: ok }).ok, `${key}=${ok}`).toBe(true);
      for (const bad of [min === undefined ? undefined : min - step, max === undefined ? undefined : max + step]) {
        if (bad === undefined) continue;
        const result = ClusterSettingsSchema.check({ [key]: bad });
        expect(result.ok ? [] : result.errors.map((e) => e.split(':')[0]), `${key}=${bad}`).toEqual([key]);
      }
    }
  });

  it('enforce the key table\'s allowed values and checks', () => {
    expect(ClusterSettingsSchema.check({ fence_mode: 'stonith', vip_allocation_id: 'my-ip' })).toEqual({
      ok: false,
      errors: [
        'fence_mode: expected one of ssm-then-stop-instance|ssm-only|none, got "stonith"',
        'vip_allocation_id: expected an Elastic IP allocation id such as eipalloc-0123456789abcdef0, got "my-ip"',
      ],
    });
  });
});

describe('docs/configuration.md', () => {
  it('holds the generated table of every key (regenerate: PGVIGIL_UPDATE_DOCS=1 npx vitest run --project unit test/unit/config.test.ts)', async () => {
    const url = new URL('../../docs/configuration.md', import.meta.url);
    const doc = readFileSync(url, 'utf8');
    const begin = '<!-- BEGIN CONFIG KEYS (generated from core/config/keys.ts) -->\n';
    const end = '\n<!-- END CONFIG KEYS -->';
    const generated = renderConfigKeysMarkdown();
    const from = doc.indexOf(begin) + begin.length;
    const to = doc.indexOf(end);
    const current = doc.slice(from, to);
    if (process.env.PGVIGIL_UPDATE_DOCS === '1' && current !== generated) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(url, doc.slice(0, from) + generated + doc.slice(to));
      return;
    }
    expect(doc).toContain(begin);
    expect(current).toBe(generated);
    for (const key of CONFIG_KEY_NAMES) expect(current).toContain(`| \`${key}\` |`);
  });
});

describe('parseConfig on arbitrary input', () => {
  const keys = [...CONFIG_KEY_NAMES, ...Object.keys(REPMGR_UNUSED_KEYS), '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
  const value = fc.oneof(
    fc.string(),
    fc.constantFrom('1', '0', '-1', 'true', 'on', "''", '"', "'", '\\', '#', '16MB', 'postgresql://u:p@h/d', 'host=a', 'all', ' '),
    fc.integer().map(String),
    fc.double().map(String),
  );
  const line = fc.oneof(
    fc.tuple(fc.constantFrom(...keys), fc.constantFrom('=', ' = ', ' ', ''), value, fc.constantFrom('', "'", '"')).map(([k, eq, v, q]) => `${k}${eq}${q}${v}${q}`),
    fc.string(),
    fc.constantFrom('#', '', '   ', '\r', '\uFEFF'),
  );
  const file = fc.oneof(fc.string(), fc.array(line, { maxLength: 30 }).map((ls) => ls.join('\n')), fc.array(line).map((ls) => conf(...ls)));
  const env = fc.dictionary(fc.constantFrom(...CONFIG_KEY_NAMES.map((k) => `PGVIGIL_${k.toUpperCase()}`), 'AWS_REGION', 'PGVIGIL___PROTO__'), fc.oneof(value, fc.constant(undefined)));

  it('throws nothing but ConfigError, and every problem names the file', () => {
    fc.assert(
      fc.property(file, env, (text, environment) => {
        try {
          const { config } = parseConfig(text, 'fuzz.conf', environment);
          expect(ClusterSettingsSchema.safeParse(clusterSettingsFromConfig(config)).success).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          for (const p of (error as ConfigError).problems) {
            expect(p.file === 'fuzz.conf' || p.file.startsWith('environment variable ')).toBe(true);
            expect(p.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 1500 },
    );
    // 3-5 s alone; more on a loaded 2-core machine, where vitest's 5 s default failed it (on main too).
  }, 30_000);
});
