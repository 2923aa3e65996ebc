/**
 * Retrying AWS calls that were throttled or hit a transient service error, with capped exponential
 * backoff and full jitter. Anything else is thrown at once: a refused request does not get better
 * by asking again.
 */
import { PgvigilError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';

const RETRYABLE = /Throttl|TooManyRequests|RequestLimitExceeded|ServiceUnavailable|InternalServerError|InternalError|SlowDown|RequestTimeout/;

export function awsErrorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error === 'object' && error !== null && 'name' in error ? String((error as { name: unknown }).name) : '';
}

export function isRetryableAwsError(error: unknown): boolean {
  if (error instanceof PgvigilError) return error.retryable;
  const e = error as { $retryable?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  return RETRYABLE.test(awsErrorName(error)) || Boolean(e?.$retryable) || (e?.$metadata?.httpStatusCode ?? 0) >= 500;
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
}

export async function withAwsRetry<T>(clock: Clock, fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 3000;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isRetryableAwsError(error)) throw error;
      await clock.sleep(Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1))));
    }
  }
}

/** Wraps an SDK error in a PgvigilError('AWS') that says what was being done. */
export function awsFailure(message: string, error: unknown): PgvigilError {
  const name = awsErrorName(error);
  return new PgvigilError('AWS', message, {
    cause: error,
    detail: error instanceof Error ? `${name}: ${error.message}` : String(error),
    retryable: isRetryableAwsError(error),
  });
}
