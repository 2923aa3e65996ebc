/**
 * A synchronous Lambda invocation (`RequestResponse`) with a JSON payload: what the CLI's
 * `standby switchover` uses to reach the deployed switchover function (cli/switchover.ts names its
 * errors and reads its answer).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

/** The function's answer as Lambda returns it. */
export interface LambdaAnswer {
  /** The response payload as text ('' when there is none). */
  payload: string;
  /** Set when the function itself failed (`Unhandled`, `Handled`): the payload then describes the error. */
  functionError?: string;
}

/** Invokes `functionName` with `request` as JSON and waits for its answer; the SDK's errors pass through. */
export async function invokeFunction(lambda: LambdaClient, functionName: string, request: unknown): Promise<LambdaAnswer> {
  const result = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: new TextEncoder().encode(JSON.stringify(request)) }));
  return { payload: result.Payload ? new TextDecoder().decode(result.Payload) : '', ...(result.FunctionError ? { functionError: result.FunctionError } : {}) };
}
