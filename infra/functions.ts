/**
 * The controller's functions (docs/controller.md) and what drives them: the evaluator on the table's
 * stream and the sweep schedule, the switchover function, and the host-events function on AWS's
 * announcements that it takes an instance. All run with the controller's policy, each with its own
 * log group and role.
 */
import {
  Duration,
  Validations,
  aws_dynamodb as dynamodb,
  aws_events as events,
  aws_events_targets as targets,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_lambda_event_sources as sources,
  aws_logs as logs,
  aws_sns as sns,
  aws_sqs as sqs,
  type RemovalPolicy,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { LAMBDA_NODE_MAJOR, lambdaCodeDir, type LambdaHandler } from '../build/artifacts.js';
import { HOST_EVENT_PATTERNS } from '../core/host-events.js';
import { STREAM_FILTER_PATTERNS } from '../core/stream-filter.js';
import type { PgvigilControlPlaneProps } from './props.js';

/** What every controller function is built with. */
export interface ControllerFunctionBase {
  /** The controller's policy (infra/permissions.ts). */
  readonly policy: iam.IManagedPolicy;
  readonly environment: Record<string, string>;
  readonly logRetention?: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** The functions' environment (functions/environment.ts reads it). */
export function controllerEnvironment(table: dynamodb.Table, topic: sns.Topic, prefix: string, eventBus: events.IEventBus | undefined): Record<string, string> {
  return {
    PGVIGIL_TABLE: table.tableName,
    PGVIGIL_TOPIC_ARN: topic.topicArn,
    PGVIGIL_SSM_DOCUMENT_PREFIX: prefix,
    NODE_OPTIONS: '--enable-source-maps',
    ...(eventBus ? { PGVIGIL_EVENT_BUS: eventBus.eventBusName } : {}),
  };
}

/** Where the stream records the evaluator gives up on go. */
export function evaluatorDeadLetterQueue(scope: Construct): sqs.Queue {
  const queue = new sqs.Queue(scope, 'EvaluatorDeadLetters', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SQS3',
    reason: "This queue is itself the dead-letter queue (the stream mapping's on-failure destination); a DLQ of a DLQ has no reader.",
  });
  return queue;
}

/** The evaluator: stream-triggered and swept. */
export function evaluatorFunction(
  scope: Construct,
  base: ControllerFunctionBase,
  table: dynamodb.Table,
  deadLetterQueue: sqs.Queue,
  props: Pick<PgvigilControlPlaneProps, 'evaluatorTimeout' | 'evaluatorReservedConcurrency' | 'sweepSchedule'>,
): { evaluator: lambda.Function; sweepRule: events.Rule } {
  const evaluator = controllerFunction(scope, 'Evaluator', base, {
    handler: 'evaluator',
    description: 'pgvigil evaluator: decides and drives failover sagas (DynamoDB stream + sweep)',
    timeout: props.evaluatorTimeout ?? Duration.minutes(5),
    reservedConcurrentExecutions: props.evaluatorReservedConcurrency,
  });
  evaluator.addEventSource(
    new sources.DynamoEventSource(table, {
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      // Failover latency matters more than batching: no batching window.
      parallelizationFactor: 1,
      bisectBatchOnError: true,
      // A stuck record blocks its shard; the sweep re-evaluates every minute anyway, so a record
      // older than a few minutes is worth nothing and goes to the dead-letter queue.
      retryAttempts: 3,
      maxRecordAge: Duration.minutes(5),
      reportBatchItemFailures: true,
      onFailure: new sources.SqsDlq(deadLetterQueue),
      filters: STREAM_FILTER_PATTERNS.map((p) => lambda.FilterCriteria.filter(p)),
    }),
  );
  Validations.of(evaluator.role ?? evaluator).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    reason: 'dynamodb:ListStreams (added by the stream event source) supports no resource-level permissions; the other stream actions are scoped to the table stream.',
  });
  const sweepRule = new events.Rule(scope, 'SweepSchedule', {
    description: 'pgvigil safety sweep: evaluates every cluster',
    schedule: props.sweepSchedule ?? events.Schedule.rate(Duration.minutes(1)),
    targets: [new targets.LambdaFunction(evaluator, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
  });
  return { evaluator, sweepRule };
}

/** The switchover: invoked synchronously by the Automation document (15 min is Lambda's ceiling). */
export function switchoverFunction(scope: Construct, base: ControllerFunctionBase): lambda.Function {
  return controllerFunction(scope, 'Switchover', base, {
    handler: 'switchover',
    description: 'pgvigil switchover: planned role swap (SSM Automation entry point)',
    timeout: Duration.minutes(15),
  });
}

/** Host events: AWS announces it takes an instance; a primary on it is switched over first. */
export function hostEventsFunction(scope: Construct, base: ControllerFunctionBase): { hostEvents: lambda.Function; hostEventRules: events.Rule[] } {
  const hostEvents = controllerFunction(scope, 'HostEvents', base, {
    handler: 'host-events',
    description: 'pgvigil host events: moves a primary off an instance AWS retires, reboots or interrupts',
    // It runs the switchover in-process, with the switchover function's bound.
    timeout: Duration.minutes(15),
  });
  // Instance ids are not known at deployment (hosts come and go): the rules take every EC2
  // instance of the account and region, and the function ignores those no node runs on.
  const hostEventRules = Object.entries(HOST_EVENT_PATTERNS).map(
    ([name, pattern]) =>
      new events.Rule(scope, `HostEvents${name[0]?.toUpperCase()}${name.slice(1)}Rule`, {
        description: `pgvigil host events (${name}): moves a primary off an instance AWS takes`,
        eventPattern: { source: [...pattern.source], detailType: [...pattern['detail-type']], ...('detail' in pattern ? { detail: pattern.detail } : {}) },
        targets: [new targets.LambdaFunction(hostEvents, { retryAttempts: 2, maxEventAge: Duration.hours(1) })],
      }),
  );
  return { hostEvents, hostEventRules };
}

function controllerFunction(
  scope: Construct,
  id: string,
  base: ControllerFunctionBase,
  options: { handler: LambdaHandler; description: string; timeout: Duration; reservedConcurrentExecutions?: number },
): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: base.logRetention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: base.removalPolicy,
  });
  // An explicit role: no AWS managed policy, logs only to its own log group.
  const role = new iam.Role(scope, `${id}Role`, {
    description: `pgvigil ${id.toLowerCase()} function`,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    managedPolicies: [base.policy],
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'OwnLogGroup', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
  );
  return new lambda.Function(scope, id, {
    // What `npm run build` bundled from functions/handlers/<name>.ts (build/index.ts), with the AWS
    // SDK versions of package-lock.json: nothing is bundled at synthesis, so a CDK app needs no esbuild.
    code: lambda.Code.fromAsset(lambdaCodeDir(options.handler)),
    handler: 'index.handler',
    description: options.description,
    runtime: new lambda.Runtime(`nodejs${LAMBDA_NODE_MAJOR}.x`, lambda.RuntimeFamily.NODEJS),
    architecture: lambda.Architecture.ARM_64,
    memorySize: 512,
    timeout: options.timeout,
    reservedConcurrentExecutions: options.reservedConcurrentExecutions,
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: base.environment,
  });
}
