/**
 * The DynamoDB single-table layout, shared by the agent, the controller, the CLI, CDK and the
 * development `createTable` helper, so they can never disagree.
 *
 * Every item of a cluster lives under one partition key (`C#<cluster_id>`), so one strongly
 * consistent Query reads a cluster, and IAM's `dynamodb:LeadingKeys` can hold an agent to its own
 * cluster. Sort keys:
 *
 * | sk                                  | item                                    |
 * |-------------------------------------|-----------------------------------------|
 * | `S#CLUSTER`                         | cluster record (term, primary, lease …) |
 * | `S#NODE#0000000001`                 | node record                             |
 * | `S#HB#0000000001`                   | latest heartbeat of a node              |
 * | `EVENT#<ms, 15 digits>#<node>#<id>` | event (repmgr `events`)                 |
 * | `MON#<ms, 15 digits>#<node>`        | monitoring sample (TTL)                 |
 * | `DEC#<ms, 15 digits>#<id>`          | flight recorder: a decision and its snapshot (TTL) |
 *
 * The state items share the `S#` prefix so that one Query (`begins_with(sk, "S#")`) reads a whole
 * cluster's state without touching its event log or monitoring history.
 *
 * The cluster record also carries `gsi1pk = "CLUSTERS"` so the scheduled sweep lists every cluster
 * through the sparse index {@link CLUSTERS_INDEX} without a Scan.
 */
export const PARTITION_KEY = 'pk';
export const SORT_KEY = 'sk';
export const TTL_ATTRIBUTE = 'expires_at';
export const CLUSTERS_INDEX = 'clusters';
export const CLUSTERS_INDEX_PK = 'gsi1pk';
export const CLUSTERS_INDEX_PK_VALUE = 'CLUSTERS';
/** Item attribute naming the record kind; the stream filter keys on it. */
export const KIND_ATTRIBUTE = 'kind';
/**
 * Set on a heartbeat item when something in it can change a decision (a server down, a failed
 * reachability check, a role that disagrees with the cluster record). Healthy periodic heartbeats
 * leave it false, so the stream filter drops them and the Lambda is not invoked for nothing.
 */
export const ATTENTION_ATTRIBUTE = 'attention';

export type ItemKind = 'cluster' | 'node' | 'heartbeat' | 'event' | 'monitoring' | 'decision';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const keys = {
  partition: (clusterId: string): string => `C#${clusterId}`,
  cluster: (): string => 'S#CLUSTER',
  node: (nodeId: number): string => `S#NODE#${pad(nodeId, 10)}`,
  heartbeat: (nodeId: number): string => `S#HB#${pad(nodeId, 10)}`,
  event: (timestampMs: number, nodeId: number, unique: string): string =>
    `EVENT#${pad(timestampMs, 15)}#${pad(nodeId, 10)}#${unique}`,
  monitoring: (timestampMs: number, nodeId: number): string => `MON#${pad(timestampMs, 15)}#${pad(nodeId, 10)}`,
  decision: (timestampMs: number, unique: string): string => `DEC#${pad(timestampMs, 15)}#${unique}`,
  prefix: { state: 'S#', node: 'S#NODE#', heartbeat: 'S#HB#', event: 'EVENT#', monitoring: 'MON#', decision: 'DEC#' },
} as const;

/** Parses the node id out of a `S#NODE#…` or `S#HB#…` sort key. */
export function nodeIdFromSortKey(sk: string): number | undefined {
  const m = /^S#(?:NODE|HB)#(\d{10})$/.exec(sk);
  return m ? Number(m[1]) : undefined;
}

/** Parses `C#<cluster_id>` back to the cluster id, or undefined for a foreign key. */
export function clusterIdFromPartition(pk: string): string | undefined {
  return pk.startsWith('C#') && pk.length > 2 ? pk.slice(2) : undefined;
}

/** The key schema in the shape both CDK and `CreateTable` want. */
export const TABLE_DEFINITION = {
  partitionKey: PARTITION_KEY,
  sortKey: SORT_KEY,
  ttlAttribute: TTL_ATTRIBUTE,
  clustersIndex: { name: CLUSTERS_INDEX, partitionKey: CLUSTERS_INDEX_PK, sortKey: PARTITION_KEY },
  streamView: 'NEW_AND_OLD_IMAGES',
} as const;
