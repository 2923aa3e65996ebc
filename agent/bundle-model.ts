/**
 * core/model.ts as the agent bundle sees it: agent/build.ts resolves every import of core/model.js
 * in the bundle to this module, so zod is not in the agent at all (its code costs ~3 MB of the
 * agent's memory, used or not; docs/agent.md, "Figures").
 *
 * The schemas the agent's code uses at run time (`.parse`, `.safeParse`, `validate()`) are stand-ins
 * backed by core/model-check's validators, which are exactly as strict as the zod schemas and give
 * the same values (test/unit/model-check.test.ts). Only what is exported here exists in the bundle:
 * if agent code imports anything else of core/model.ts at run time, the build fails with esbuild's
 * "No matching export" error rather than shipping something different.
 *
 * Running from source (tests, `bin/pgvigil-agent.js`) uses core/model.ts itself.
 */
import { PgvigilError } from '../core/errors.js';
import { SCHEMA_CHECKS, type CheckedSchemaName } from '../core/model-check.js';
import type { Validated } from '../core/model.js';

/** What the agent uses of a zod schema. */
export interface StandInSchema {
  parse(input: unknown): unknown;
  safeParse(input: unknown): { success: true; data: unknown } | { success: false; error: PgvigilError };
  /** The validator itself, for {@link validate}. */
  check(input: unknown): Validated<unknown>;
}

function standIn(name: CheckedSchemaName): StandInSchema {
  const check = SCHEMA_CHECKS[name];
  const what = name.replace(/Schema$/, '');
  const error = (errors: string[]): PgvigilError => new PgvigilError('BAD_INPUT', `${what} is not valid: ${errors.join('; ')}`);
  return {
    check,
    parse(input) {
      const result = check(input);
      if (result.ok) return result.value;
      throw error(result.errors);
    },
    safeParse(input) {
      const result = check(input);
      return result.ok ? { success: true, data: result.value } : { success: false, error: error(result.errors) };
    },
  };
}

export const NodeRecordSchema = standIn('NodeRecordSchema');
export const ReplicationRowSchema = standIn('ReplicationRowSchema');
export const ServerStateSchema = standIn('ServerStateSchema');
export const ReachabilitySchema = standIn('ReachabilitySchema');
export const HeartbeatSchema = standIn('HeartbeatSchema');
export const LeaseSchema = standIn('LeaseSchema');
export const LeaseObservationSchema = standIn('LeaseObservationSchema');
export const OperationSchema = standIn('OperationSchema');
export const ClusterSettingsSchema = standIn('ClusterSettingsSchema');
export const ClusterRecordSchema = standIn('ClusterRecordSchema');
export const EventRecordSchema = standIn('EventRecordSchema');

/** core/model.ts's validate(), for the stand-ins. */
export function validate(schema: StandInSchema, input: unknown): Validated<unknown> {
  return schema.check(input);
}
