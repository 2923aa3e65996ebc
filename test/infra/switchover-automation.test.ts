import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { switchoverAutomationContent } from '../../infra/ssm-documents.js';

const step = switchoverAutomationContent('fn', 'arn:aws:iam::123456789012:role/r').mainSteps[1] as {
  action: string;
  inputs: { Runtime: string; Handler: string; Script: string };
};

/** Runs the document's checkResult script the way aws:executeScript does: handler(events, context). */
function check(payload: string): { status: number | null; stdout: string; stderr: string } {
  const harness = `${step.inputs.Script}\nimport sys\nprint(${step.inputs.Handler}({'payload': sys.argv[1]}, None))\n`;
  return spawnSync('python3', ['-c', harness, payload], { encoding: 'utf8' });
}

describe('the switchover Automation document', () => {
  it('checks the function result with a Python step', () => {
    expect(step.action).toBe('aws:executeScript');
    expect(step.inputs.Runtime).toMatch(/^python3\.\d+$/);
  });

  it('passes a switchover that completed', () => {
    const r = check(JSON.stringify({ ok: true, message: 'switchover completed', cluster_id: 'main' }));
    expect(r.status, r.stderr).toBe(0);
  });

  it('fails the execution with the function’s message when the switchover did not complete', () => {
    const r = check(JSON.stringify({ ok: false, message: 'candidate node 2 lags 40 MB behind the primary' }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('candidate node 2 lags 40 MB behind the primary');
  });

  it('fails the execution when the function itself failed', () => {
    const r = check(JSON.stringify({ errorType: 'PgvigilError', errorMessage: 'invalid switchover request' }));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('invalid switchover request');
  });
});
