/**
 * Which DynamoDB stream records can change a decision, as Lambda event-filter patterns (docs/snapshot-format.md:
 * "the stream trigger filters out records that cannot change a decision").
 *
 * The CDK construct installs {@link STREAM_FILTER_PATTERNS} as the evaluator's FilterCriteria, and
 * the local runtime of the sandbox applies the same patterns with {@link matchesStreamFilter}, so a
 * record that would not invoke the Lambda in AWS does not invoke it locally either.
 *
 * A record passes when it matches ANY pattern:
 * 1. a heartbeat written with `attention = true` — the agent sets it when something it reports can
 *    change a decision (server down, a failed reachability check, a role that disagrees with the
 *    cluster record). Healthy periodic heartbeats (`attention = false`) never invoke the Lambda.
 * 2. a cluster record whose new image carries an operation (a saga was claimed or moved on; the
 *    claim is also the only write that raises the term, docs/controller.md, so every term change passes here).
 * 3. a cluster record whose old image carried an operation (the saga finished or was abandoned:
 *    primary and term settled).
 * 4. a cluster record that was unpaused (`service unpause`): the engine may act again at once.
 *
 * Everything else is dropped, above all the primary's lease renewals (a cluster-record update on
 * every heartbeat), the controller's lease observations, node records, events and monitoring
 * samples. What the filter drops is still caught by the scheduled sweep within a minute.
 *
 * DynamoDB filter patterns cannot compare an old and a new value (for example "term changed"), which
 * is why term changes are recognised through the operation that carries them.
 */
import { ATTENTION_ATTRIBUTE, KIND_ATTRIBUTE } from './table.js';

/** A Lambda/EventBridge event pattern (the subset pgvigil uses: literal lists, `exists`, nesting). */
export type FilterPattern = { [key: string]: FilterPattern | ReadonlyArray<string | number | boolean | { exists: boolean }> };

const kind = (k: string): FilterPattern => ({ [KIND_ATTRIBUTE]: { S: [k] } });

export const STREAM_FILTER_PATTERNS: readonly FilterPattern[] = [
  {
    eventName: ['INSERT', 'MODIFY'],
    dynamodb: { NewImage: { ...kind('heartbeat'), [ATTENTION_ATTRIBUTE]: { BOOL: [true] } } },
  },
  {
    eventName: ['INSERT', 'MODIFY'],
    dynamodb: { NewImage: { ...kind('cluster'), operation: { M: { kind: { S: [{ exists: true }] } } } } },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: { OldImage: { ...kind('cluster'), operation: { M: { kind: { S: [{ exists: true }] } } } } },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: {
      OldImage: { ...kind('cluster'), paused: { BOOL: [true] } },
      NewImage: { paused: { BOOL: [false] } },
    },
  },
];

/** True when `record` (a DynamoDB stream record as Lambda receives it) matches any of `patterns`. */
export function matchesStreamFilter(record: unknown, patterns: readonly FilterPattern[] = STREAM_FILTER_PATTERNS): boolean {
  return patterns.some((p) => matchObject(record, p));
}

function matchObject(value: unknown, pattern: FilterPattern): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const obj = value as Record<string, unknown>;
  for (const [key, sub] of Object.entries(pattern)) {
    if (Array.isArray(sub)) {
      if (!matchLeaf(key in obj, obj[key], sub)) return false;
    } else if (!matchObject(obj[key], sub as FilterPattern)) {
      return false;
    }
  }
  return true;
}

function matchLeaf(present: boolean, value: unknown, rules: ReadonlyArray<string | number | boolean | { exists: boolean }>): boolean {
  return rules.some((rule) => {
    if (typeof rule === 'object') return rule.exists ? present && value !== undefined : !present || value === undefined;
    if (!present) return false;
    // DynamoDB numbers arrive as strings in stream images; EventBridge compares them as numbers.
    if (typeof rule === 'number') return Number(value) === rule;
    return value === rule;
  });
}
