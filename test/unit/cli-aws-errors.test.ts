import { describe, expect, it } from 'vitest';
import { configFileFor, describeAwsError } from '../../cli/context.js';
import type { CommandContext } from '../../shell/framework.js';
import { memoryOutput } from '../../shell/output.js';
import { exitCodeFor, PgvigilError } from '../../core/errors.js';

const target = { tableName: 'pgvigil', region: 'eu-west-1', endpoint: undefined };
const named = (name: string, message: string, extra: object = {}): Error => Object.assign(new Error(message), { name, ...extra });

describe('describeAwsError', () => {
  it.each([
    [named('CredentialsProviderError', 'Could not load credentials from any providers'), 'no AWS credentials found', 1],
    [new Error('Region is missing'), 'no AWS region configured', 1],
    [named('ResourceNotFoundException', 'Requested resource not found'), 'the pgvigil state table "pgvigil" in eu-west-1 does not exist', 1],
    [named('AccessDeniedException', 'not authorized to perform: dynamodb:Query'), 'AWS refused the credentials for table "pgvigil" in eu-west-1: not authorized to perform: dynamodb:Query', 1],
    [named('UnrecognizedClientException', 'The security token included in the request is invalid.'), 'AWS refused the credentials for table "pgvigil" in eu-west-1: The security token included in the request is invalid.', 1],
    [named('Error', 'connect ECONNREFUSED 127.0.0.1:4566', { code: 'ECONNREFUSED' }), 'unable to reach the pgvigil state table "pgvigil" in eu-west-1', 6],
    [named('ThrottlingException', 'Rate exceeded'), 'DynamoDB request on table "pgvigil" in eu-west-1 failed: ThrottlingException: Rate exceeded', 13],
  ])('turns %s into "%s" with exit code %d', (error, message, code) => {
    const described = describeAwsError(error, target);
    expect(described.message).toBe(message);
    expect(exitCodeFor(described)).toBe(code);
  });

  it('passes pgvigil errors through unchanged', () => {
    const error = new PgvigilError('NOT_FOUND', 'cluster "x" not found');
    expect(describeAwsError(error, target)).toBe(error);
  });
});

describe('configFileFor', () => {
  const ctx = (options: Record<string, string>, env: NodeJS.ProcessEnv = {}): CommandContext => ({ options, positionals: [], out: memoryOutput(), env });

  it('takes -f, then PGVIGIL_CONFIG, then the first of repmgr\'s default locations that exists', () => {
    const none = (): boolean => false;
    expect(configFileFor(ctx({ 'config-file': '/a.conf' }, { PGVIGIL_CONFIG: '/b.conf' }), none)).toBe('/a.conf');
    expect(configFileFor(ctx({}, { PGVIGIL_CONFIG: '/b.conf' }), none)).toBe('/b.conf');
    expect(configFileFor(ctx({}), none)).toBeUndefined();
    expect(configFileFor(ctx({}), (p) => p === '/etc/repmgr.conf' || p === '/etc/pgvigil/repmgr.conf')).toBe('/etc/pgvigil/repmgr.conf');
  });
});
