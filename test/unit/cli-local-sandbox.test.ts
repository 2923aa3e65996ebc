import { describe, expect, it } from 'vitest';
import { AWS_LOCATION_VARIABLES, DEFAULT_SANDBOX_DIR, awsLocationGiven, sandboxDirFrom } from '../../cli/local-sandbox.js';

describe('awsLocationGiven', () => {
  const nothing = (): boolean => false;

  it('finds nothing in a fresh shell: no config file, no AWS variables, no ~/.aws/config', () => {
    expect(awsLocationGiven({ HOME: '/home/op', PATH: '/usr/bin' }, undefined, nothing)).toBeUndefined();
  });

  it.each(AWS_LOCATION_VARIABLES.map((v) => [v]))('counts %s as saying where AWS is', (variable) => {
    expect(awsLocationGiven({ [variable]: 'x' }, undefined, nothing)).toBe(variable);
  });

  it('counts a configuration file and ~/.aws/config, but not credentials alone or empty variables', () => {
    expect(awsLocationGiven({}, '/etc/pgvigil/repmgr.conf', nothing)).toBe('configuration file /etc/pgvigil/repmgr.conf');
    expect(awsLocationGiven({ HOME: '/home/op' }, undefined, (p) => p === '/home/op/.aws/config')).toBe('/home/op/.aws/config');
    expect(awsLocationGiven({ AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: '' }, undefined, nothing)).toBeUndefined();
  });
});

describe('sandboxDirFrom', () => {
  it("takes PGVIGIL_SANDBOX_DIR, else sandbox up's default directory", () => {
    expect(DEFAULT_SANDBOX_DIR).toBe('/tmp/pgvigil-sandbox');
    expect(sandboxDirFrom({})).toBe('/tmp/pgvigil-sandbox');
    expect(sandboxDirFrom({ PGVIGIL_SANDBOX_DIR: '/srv/sbx' })).toBe('/srv/sbx');
  });
});
