/**
 * The template's CloudWatch alarms, created in the emulator with the service API (moto's
 * CloudFormation skips `AWS::CloudWatch::Alarm`, see deploy-to-emulator.ts): each alarm's
 * properties as synthesized, with the intrinsics they hold (the topic's Ref, the function's Ref,
 * the dead-letter queue's name) resolved against the created stack's resources. Named as
 * CloudFormation names an alarm without AlarmName (`<stack>-<logical id>`), and put in
 * INSUFFICIENT_DATA, CloudWatch's state for a new alarm (moto starts them OK).
 */
import { CloudFormationClient, DescribeStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand, type PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';

/** Where the emulator is (sandbox/deploy-to-emulator.ts passes its own EmulatorClientConfig). */
interface EmulatorClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

/** The alarm resources of a template, by logical id. */
export function templateAlarms(template: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const resources = (template.Resources ?? {}) as Record<string, TemplateResource>;
  return Object.fromEntries(
    Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
      .map(([id, r]) => [id, r.Properties ?? {}]),
  );
}

/**
 * Replaces `Ref` and `Fn::GetAtt [id, QueueName]` by what the stack created (`physical`: logical id →
 * physical resource id); any other intrinsic is an error naming the alarm and the intrinsic.
 */
export function resolveIntrinsics(value: unknown, physical: Record<string, string>, where: string): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, physical, where));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Ref' && typeof arg === 'string') {
    const id = physical[arg];
    if (id === undefined) throw new Error(`${where}: Ref ${arg} names no resource of the stack`);
    return id;
  }
  if (entries.length === 1 && key === 'Fn::GetAtt' && Array.isArray(arg) && arg[1] === 'QueueName') {
    const url = physical[String(arg[0])];
    if (url === undefined) throw new Error(`${where}: Fn::GetAtt ${String(arg[0])}.QueueName names no resource of the stack`);
    return url.slice(url.lastIndexOf('/') + 1);
  }
  if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
    throw new Error(`${where}: ${key} ${JSON.stringify(arg)} cannot be resolved for the emulator`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolveIntrinsics(v, physical, where)]));
}

/** Creates the template's alarms in the emulator; resolves with their names by logical id. */
export async function createEmulatorAlarms(client: EmulatorClientConfig, stackName: string, template: Record<string, unknown>): Promise<Record<string, string>> {
  const alarms = templateAlarms(template);
  if (Object.keys(alarms).length === 0) return {};
  const cfn = new CloudFormationClient(client);
  const cloudwatch = new CloudWatchClient(client);
  try {
    const resources = await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }));
    const physical = Object.fromEntries((resources.StackResources ?? []).map((r) => [r.LogicalResourceId ?? '', r.PhysicalResourceId ?? '']));
    const names: Record<string, string> = {};
    for (const [id, properties] of Object.entries(alarms)) {
      const name = (properties.AlarmName as string | undefined) ?? `${stackName}-${id}`;
      const input = resolveIntrinsics(properties, physical, `alarm ${id}`) as Omit<PutMetricAlarmCommandInput, 'AlarmName'>;
      await cloudwatch.send(new PutMetricAlarmCommand({ ...input, AlarmName: name }));
      await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: name, StateValue: 'INSUFFICIENT_DATA', StateReason: 'Unchecked: Initial alarm creation' }));
      names[id] = name;
    }
    return names;
  } finally {
    cfn.destroy();
    cloudwatch.destroy();
  }
}
