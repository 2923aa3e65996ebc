/**
 * What AWS does around the deployed stack, made live on this machine (docs/sandbox.md): the internal
 * load balancer's writer and reader routes, and CloudWatch judging the stack's alarms, with a
 * subscriber to the stack's topic recording their notifications.
 */
import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SNSClient } from '@aws-sdk/client-sns';
import { AlarmEvaluator } from './alarm-evaluator.js';
import { AGENT_API_PORT, type PlanNode } from './cluster-plan.js';
import type { EmulatorDeployment } from './deploy-to-emulator.js';
import { SANDBOX_REGION, type EmulatorClientConfig } from './emulated-aws.js';
import { NotificationSubscriber } from './notifications.js';
import { HealthRoute, SANDBOX_HEALTH_CHECK, SANDBOX_READER_HEALTH_CHECK, SANDBOX_READER_LAG, type HealthCheck } from './routes.js';

/**
 * The sandbox evaluates the stack's alarms this many times faster than CloudWatch (a 60 s period
 * lasts 5 s), as its lease and timings are short: a drill sees its alarm raised and cleared.
 */
export const SANDBOX_ALARM_TIME_SCALE = 12;

/** The load balancer's two routes. */
export interface LoadBalancerRoutes {
  writer: HealthRoute;
  reader: HealthRoute;
}

/**
 * The internal load balancer's writer and reader routes, on free ports of 127.0.0.1, following the
 * agents' health endpoints of the PostgreSQL nodes (docs/sandbox.md, "Writer and reader routes").
 */
export async function startRoutes(nodes: PlanNode[], say: (line: string) => void): Promise<LoadBalancerRoutes> {
  const targets = nodes
    .filter((n) => n.postgres)
    .map((n) => ({ name: n.node_name, host: n.address, port: n.port, apiHost: n.address, apiPort: AGENT_API_PORT }));
  const route = (name: string, check: HealthCheck): HealthRoute =>
    new HealthRoute({ name, targets, check, onChange: (target, healthy) => say(`${name} route: ${target} ${healthy ? 'healthy' : 'unhealthy'}`) });
  const routes = {
    writer: route('writer', { ...SANDBOX_HEALTH_CHECK, path: '/primary' }),
    reader: route('reader', { ...SANDBOX_READER_HEALTH_CHECK, path: `/replica?lag=${SANDBOX_READER_LAG}` }),
  };
  await routes.writer.start();
  await routes.reader.start();
  say(
    `routes (the load balancer's): writer 127.0.0.1:${routes.writer.port} (/primary), reader 127.0.0.1:${routes.reader.port} (/replica?lag=${SANDBOX_READER_LAG}); checks every ${SANDBOX_HEALTH_CHECK.intervalMs} ms, ${SANDBOX_HEALTH_CHECK.healthyThreshold} to turn healthy, ${SANDBOX_HEALTH_CHECK.unhealthyThreshold} unhealthy (reader ${SANDBOX_READER_HEALTH_CHECK.unhealthyThreshold})`,
  );
  return routes;
}

/** The stack's alarms made live, and the clients they use (destroyed by the caller when it stops). */
export interface StackAlarms {
  /** Prints and records each notification of the stack's topic (in `notifications.jsonl`). */
  notifications: NotificationSubscriber;
  /** Judges the stack's alarms on the metrics the controller emits. */
  alarms: AlarmEvaluator;
  clients: { cloudwatch: CloudWatchClient; sns: SNSClient };
  /** What `sandbox up` prints once both run. */
  summary: string;
}

/** The SNS subscriber and the alarm evaluator, built but not started: the caller starts the subscriber first. */
export function stackAlarms(clientConfig: EmulatorClientConfig, deployment: EmulatorDeployment, dir: string, say: (line: string) => void): StackAlarms {
  const clients = { cloudwatch: new CloudWatchClient(clientConfig), sns: new SNSClient(clientConfig) };
  const notifications = new NotificationSubscriber({
    sns: clients.sns,
    topicArn: deployment.topicArn,
    dir,
    onNotification: (n) => say(`SNS: ${n.alarm ? `alarm ${n.alarm.name}: ${n.alarm.from} → ${n.alarm.to}` : (n.subject ?? n.message.slice(0, 120))}`),
  });
  const alarms = new AlarmEvaluator({
    ...clients,
    alarmNamePrefix: `${deployment.stackName}-`,
    timeScale: SANDBOX_ALARM_TIME_SCALE,
    region: SANDBOX_REGION,
    onError: (error) => say(`alarms: evaluation failed: ${error.message} (retrying)`),
  });
  const summary = `alarms: ${Object.keys(deployment.alarmNames).length} of the stack evaluated ${SANDBOX_ALARM_TIME_SCALE}× faster than CloudWatch; notifications of ${deployment.topicArn} recorded in ${join(dir, 'notifications.jsonl')}`;
  return { notifications, alarms, clients, summary };
}
