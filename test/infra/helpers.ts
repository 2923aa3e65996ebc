/** Shared helpers of the infra tests: IAM statement lookup and policy scans over a template. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every identity-policy statement of the template: inline role policies, policies, managed policies. */
export function identityStatements(template: Template): Array<{ logicalId: string; statement: Statement }> {
  const out: Array<{ logicalId: string; statement: Statement }> = [];
  const push = (logicalId: string, doc: { Statement?: Statement[] } | undefined) => {
    for (const statement of doc?.Statement ?? []) out.push({ logicalId, statement });
  };
  for (const [id, r] of Object.entries(template.findResources('AWS::IAM::Policy'))) push(id, r.Properties.PolicyDocument);
  for (const [id, r] of Object.entries(template.findResources('AWS::IAM::ManagedPolicy'))) push(id, r.Properties.PolicyDocument);
  for (const [id, r] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const p of r.Properties.Policies ?? []) push(id, p.PolicyDocument);
  }
  return out;
}

export function actionsOf(s: Statement): string[] {
  return asArray(s.Action);
}

export function resourcesOf(s: Statement): unknown[] {
  return asArray(s.Resource as unknown);
}

/** The statements of one policy resource, keyed by Sid. */
export function statementsBySid(template: Template, logicalId: string): Record<string, Statement> {
  const all = identityStatements(template).filter((s) => s.logicalId === logicalId);
  return Object.fromEntries(all.map(({ statement }) => [statement.Sid ?? '(none)', statement]));
}

/** The one logical id of a resource type whose id starts with `prefix` (CDK appends a hash). */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.length}: ${ids.join(', ')}`);
  return ids[0]!;
}

/**
 * CDK apps for tests, each with its cloud assembly under one temporary directory per test file
 * (a bare `new App()` leaves a `cdk.out*` directory in the system temp dir every time).
 */
export function testApps(): { app: (props?: AppProps) => App; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'pgvigil-infra-test-'));
  let n = 0;
  return {
    app: (props: AppProps = {}) => new App({ ...props, outdir: join(root, String(n++)) }),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
