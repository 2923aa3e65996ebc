import { describe, expect, it } from 'vitest';
import { SSM_DOCUMENT_ACTIONS, SSM_DOCUMENT_PARAMETERS, SSM_PARAMETER_PATTERNS } from '../../core/ssm-parameters.js';
import {
  HOST_ACTIONS,
  PARAMETER_PATTERNS,
  SSM_ACTIONS,
  commandDocuments,
  renderCommandScript,
  switchoverAutomationContent,
} from '../../infra/ssm-documents.js';

const params = { ClusterId: 'main', NodeId: '2', Term: '7', ConfigFile: '/etc/pgvigil/repmgr.conf' };

describe('commandDocuments', () => {
  it('has one document per controller host action, named <prefix>-<Action>', () => {
    expect(Object.fromEntries(SSM_ACTIONS.map((a) => [HOST_ACTIONS[a], a]))).toEqual(SSM_DOCUMENT_ACTIONS);
    const docs = commandDocuments({ prefix: 'acme' });
    for (const a of SSM_ACTIONS) expect(docs[a].name).toBe(`acme-${a}`);
  });

  it('declares exactly the parameters the controller sends, each with its allowedPattern', () => {
    const docs = commandDocuments();
    for (const a of SSM_ACTIONS) {
      const declared = docs[a].content.parameters;
      expect(Object.keys(declared).sort(), a).toEqual([...SSM_DOCUMENT_PARAMETERS[HOST_ACTIONS[a]]].sort());
      for (const [name, p] of Object.entries(declared)) {
        expect(p.allowedPattern).toBe(SSM_PARAMETER_PATTERNS[name as keyof typeof SSM_PARAMETER_PATTERNS]);
      }
    }
    expect(docs.Rejoin.content.parameters.ForceRewind?.default).toBe('false');
    expect(docs.Promote.content.parameters.ConfigFile?.default).toBe('/etc/pgvigil/repmgr.conf');
  });

  it('refuses a prefix SSM would refuse, or an agent command with shell in it', () => {
    expect(() => commandDocuments({ prefix: 'aws-pg' })).toThrow(/SSM document prefix "aws-pg" is not valid/);
    expect(() => commandDocuments({ prefix: 'a b' })).toThrow(/not valid/);
    expect(() => commandDocuments({ agentCommand: 'pgvigil-agent; rm -rf /' })).toThrow(/agent command .* is not valid/);
  });
});

describe('renderCommandScript', () => {
  it('substitutes the parameters into the agent command line, with the term', () => {
    const docs = commandDocuments();
    expect(renderCommandScript(docs.Promote.content, params)).toMatch(/^exec pgvigil-agent promote -f "\$conf" --term '7'$/m);
    expect(renderCommandScript(docs.Follow.content, { ...params, UpstreamNodeId: '3' })).toMatch(
      /^exec pgvigil-agent follow -f "\$conf" --term '7' --upstream-node-id '3'$/m,
    );
    expect(renderCommandScript(docs.NodeCheck.content, params)).toMatch(/^exec pgvigil-agent node check -f "\$conf" --term '7'$/m);
    const rejoin = renderCommandScript(docs.Rejoin.content, { ...params, UpstreamNodeId: '1', ForceRewind: 'true' });
    expect(rejoin).toContain("if [ 'true' = 'true' ]; then rewind=--force-rewind; fi");
    expect(rejoin).toMatch(/^exec pgvigil-agent rejoin -f "\$conf" --term '7' --upstream-node-id '1' \$rewind$/m);
    const service = renderCommandScript(docs.NodeService.content, { ...params, ServiceAction: 'restart', Checkpoint: 'true' });
    expect(service).toContain("if [ 'true' = 'true' ]; then checkpoint=--checkpoint; fi");
    expect(service).toContain("if [ 'false' = 'true' ]; then force=--force; fi");
    expect(service).toMatch(/^exec pgvigil-agent node service -f "\$conf" --term '7' --action 'restart' \$checkpoint \$force$/m);
    expect(() => renderCommandScript(docs.NodeService.content, { ...params, ServiceAction: 'restart;reboot' })).toThrow(/ServiceAction value .* does not match/);
  });

  it('applies defaults the way SSM does', () => {
    const { ConfigFile: _omit, ...rest } = params;
    expect(renderCommandScript(commandDocuments().Fence.content, rest)).toContain("conf='/etc/pgvigil/repmgr.conf'");
  });

  it('refuses shell in a parameter, an unknown parameter and a missing one, naming each', () => {
    const content = commandDocuments().Follow.content;
    expect(() => renderCommandScript(content, { ...params, Term: '7; reboot' })).toThrow(/parameter Term value "7; reboot" does not match/);
    expect(() => renderCommandScript(content, { ...params, UpstreamNodeId: '3', Extra: 'x' })).toThrow(/unknown parameter Extra/);
    expect(() => renderCommandScript(content, params)).toThrow(/missing parameter UpstreamNodeId/);
    expect(() => renderCommandScript(content, { ...params, UpstreamNodeId: '3', ConfigFile: '/etc/$(id)' })).toThrow(/parameter ConfigFile/);
  });
});

describe('switchoverAutomationContent', () => {
  it('invokes the function with the JSON payload the switchover handler reads, every parameter pattern-checked', () => {
    const content = switchoverAutomationContent('fn', 'arn:aws:iam::123456789012:role/r');
    for (const [name, p] of Object.entries(content.parameters)) {
      expect(p.allowedPattern, name).toBe(PARAMETER_PATTERNS[name as keyof typeof PARAMETER_PATTERNS]);
    }
    const payload = String((content.mainSteps[0]!.inputs as { Payload: string }).Payload)
      .replace('{{ClusterId}}', 'main')
      .replace('{{CandidateNodeId}}', '2')
      .replace('{{SiblingsFollow}}', 'true')
      .replace('{{DryRun}}', 'false');
    expect(JSON.parse(payload)).toEqual({ cluster_id: 'main', candidate_node_id: 2, siblings_follow: true, dry_run: false });
    expect(new RegExp(PARAMETER_PATTERNS.AutomationAssumeRole).test('arn:aws:iam::123456789012:role/r')).toBe(true);
    expect(new RegExp(PARAMETER_PATTERNS.AutomationAssumeRole).test('arn:aws:iam::123456789012:role/r"}')).toBe(false);
  });
});
