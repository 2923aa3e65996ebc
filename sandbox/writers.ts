/**
 * The drills' clients: a writer that inserts numbered rows every 50 ms and records which
 * were acknowledged (through the VIP, or directly to one host), a probe of every node's writability,
 * and the figures computed from them: write_outage_ms, acked_writes_lost, max_writable_primaries.
 *
 * A write counts as acknowledged only when the server answered COMMIT. A write that hangs (a primary
 * waiting for a synchronous standby it can no longer reach) is abandoned after
 * `statementTimeoutMs` by dropping the connection — client-side, because a server-side
 * statement_timeout would cancel the synchronous-replication wait and report the commit as done.
 *
 * To observe a partitioned host (whose network is cut) the probe and the direct writer should use
 * the host's Unix-domain socket directory as `host`: sockets on the file system are not affected by
 * network namespaces, so they see the host as a local client would.
 */
import pg from 'pg';

/** The table the writers insert into (created by {@link ensureDrillTable} on the primary). */
export const DRILL_TABLE = 'pgvigil_drill';
/** The table the writability probe updates (one row per node). */
export const PROBE_TABLE = 'pgvigil_drill_probe';
const CREATE_PROBE_TABLE = `CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (node text PRIMARY KEY, probed_at timestamptz NOT NULL)`;

export interface PgTarget {
  /** Host name, address, or a Unix-socket directory (starts with "/"). */
  host: string;
  port: number;
  user?: string;
  database?: string;
}

function clientConfig(target: PgTarget, connectTimeoutMs: number): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user ?? 'postgres',
    database: target.database ?? 'postgres',
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'pgvigil-drill',
  };
}

/** Creates the drill table (on the primary; it replicates to the standbys). */
export async function ensureDrillTable(target: PgTarget): Promise<void> {
  const client = new pg.Client(clientConfig(target, 5000));
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${DRILL_TABLE} (writer text NOT NULL, id bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (writer, id))`,
    );
    await client.query(CREATE_PROBE_TABLE);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One insert the writer attempted. */
export interface WriteAttempt {
  id: number;
  sentAt: number;
  /** When COMMIT was acknowledged; null when it failed or was abandoned. */
  ackedAt: number | null;
  error: string | null;
  /** The server the write went to, as {@link WriterOptions.connect} named it (undefined without it). */
  server?: string;
}

export interface WriterOptions {
  /** Recorded in the `writer` column; unique per drill run (e.g. `vip-<run id>`). */
  name: string;
  target: PgTarget;
  /** @default 50 */
  intervalMs?: number;
  /** Abandon a write (and its connection) after this long. @default 1000 */
  statementTimeoutMs?: number;
  /** @default 1000 */
  connectTimeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  /**
   * Opens the writer's connection instead of a plain one to `target` (which is then unused): for a
   * client that picks its server itself, such as a libpq-style multi-host connection. It names the
   * server it reached; every write on that connection records the name.
   */
  connect?: (connectTimeoutMs: number) => Promise<{ client: pg.Client; server: string }>;
}

function destroy(client: pg.Client): void {
  try {
    client.connection.stream.destroy();
  } catch {
    // never connected
  }
  void client.end().catch(() => undefined);
}

/** Runs `work` on a client, giving up (and dropping the connection) after `timeoutMs`. */
async function bounded<T>(client: pg.Client, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          destroy(client);
          reject(new Error(`no answer after ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Inserts row `id` = 1, 2, 3 … every `intervalMs` (one write in flight at a time: a tick that finds
 * the previous write still running is skipped), reconnecting whenever the connection breaks.
 */
export class DrillWriter {
  readonly attempts: WriteAttempt[] = [];
  private client: pg.Client | null = null;
  private server: string | undefined;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private nextId = 1;
  private running = false;
  private readonly now: () => number;

  constructor(private readonly options: WriterOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 50);
    this.tick();
  }

  private tick(): void {
    if (!this.running || this.inFlight) return;
    this.inFlight = this.writeOne().finally(() => {
      this.inFlight = null;
    });
  }

  private async writeOne(): Promise<void> {
    const attempt: WriteAttempt = { id: this.nextId++, sentAt: this.now(), ackedAt: null, error: null };
    this.attempts.push(attempt);
    const timeoutMs = this.options.statementTimeoutMs ?? 1000;
    try {
      if (!this.client) {
        const connectTimeoutMs = this.options.connectTimeoutMs ?? 1000;
        const opened = this.options.connect ? await this.options.connect(connectTimeoutMs) : { client: new pg.Client(clientConfig(this.options.target, connectTimeoutMs)), server: undefined };
        const client = opened.client;
        client.on('error', () => {
          if (this.client === client) this.client = null;
          destroy(client);
        });
        client.on('end', () => {
          if (this.client === client) this.client = null;
        });
        if (!this.options.connect) await bounded(client, connectTimeoutMs + 200, () => client.connect());
        this.client = client;
        this.server = opened.server;
        attempt.sentAt = this.now(); // the write itself starts now
      }
      const client = this.client;
      if (this.server !== undefined) attempt.server = this.server;
      try {
        await bounded(client, timeoutMs, () =>
          client.query(`INSERT INTO ${DRILL_TABLE} (writer, id) VALUES ($1, $2)`, [this.options.name, attempt.id]),
        );
      } catch (error) {
        if (this.client === client) this.client = null;
        destroy(client);
        throw error;
      }
      attempt.ackedAt = this.now();
    } catch (error) {
      attempt.error = error instanceof Error ? error.message : String(error);
    }
  }

  /** Stops writing and closes the connection (waits for the write in flight). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
    if (this.client) destroy(this.client);
    this.client = null;
  }

  /** Ids whose COMMIT was acknowledged. */
  acked(): number[] {
    return this.attempts.filter((a) => a.ackedAt !== null).map((a) => a.id);
  }
}

/**
 * The longest time without an acknowledged write, looking from `fromMs` (the fault) to `toMs`: the
 * gap that straddles `fromMs` counts from the last acknowledgement before it. If no write was
 * acknowledged after `fromMs`, the outage lasts until `toMs`.
 */
export function writeOutageMs(attempts: readonly WriteAttempt[], fromMs: number, toMs: number): number {
  const acks = attempts
    .map((a) => a.ackedAt)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  let previous = fromMs;
  for (const t of acks) if (t <= fromMs) previous = t;
  let longest = 0;
  for (const t of acks) {
    if (t <= fromMs || t > toMs) continue;
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return Math.max(longest, toMs - previous);
}

/** The first acknowledgement of a write sent at or after `fromMs` (e.g. first_write_via_vip), or null. */
export function firstAckAfter(attempts: readonly WriteAttempt[], fromMs: number): number | null {
  let first: number | null = null;
  for (const a of attempts) {
    if (a.ackedAt !== null && a.sentAt >= fromMs && (first === null || a.ackedAt < first)) first = a.ackedAt;
  }
  return first;
}

/** Acknowledged ids of `writer` that the (final) primary does not have. */
export async function ackedWritesLost(target: PgTarget, writer: string, acked: readonly number[]): Promise<number[]> {
  if (acked.length === 0) return [];
  const client = new pg.Client(clientConfig(target, 5000));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query<{ id: string }>(`SELECT id FROM ${DRILL_TABLE} WHERE writer = $1 AND id = ANY($2::bigint[])`, [
      writer,
      acked.map(String),
    ]);
    const present = new Set(result.rows.map((r) => Number(r.id)));
    return acked.filter((id) => !present.has(id));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One acknowledged write probe on one node: the node accepted a write at some moment in [sentAt, ackedAt]. */
export interface ProbeAck {
  node: string;
  sentAt: number;
  ackedAt: number;
  /**
   * The server's clock when the statement ran (`clock_timestamp()`): the commit came after it. The
   * sandbox's servers share this machine's clock, so it narrows the interval to [serverAt, ackedAt]
   * even when the client sent late.
   */
  serverAt?: number;
}

export interface WritabilityProbeOptions {
  nodes: { name: string; target: PgTarget }[];
  /** @default 100 */
  intervalMs?: number;
  /** A probe not acknowledged in this long counts as "not writable" and its connection is dropped. @default 1000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Probes every node's writability concurrently on a timer: an upsert of the node's row in
 * {@link PROBE_TABLE}, a real WAL-logged write whose COMMIT is refused by a standby, held by a
 * primary that lost its synchronous standbys, and refused by a stopped or read-only server. (A bare
 * `txid_current()` would not do: a commit that wrote no WAL of its own skips the synchronous wait.)
 */
export class WritabilityProbe {
  readonly acks: ProbeAck[] = [];
  private readonly clients = new Map<string, pg.Client>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly now: () => number;

  constructor(private readonly options: WritabilityProbeOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 100);
    this.tick();
  }

  private tick(): void {
    for (const node of this.options.nodes) {
      if (!this.running || this.inFlight.has(node.name)) continue;
      this.inFlight.set(
        node.name,
        this.probe(node.name, node.target).finally(() => this.inFlight.delete(node.name)),
      );
    }
  }

  private async probe(name: string, target: PgTarget): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 1000;
    let client = this.clients.get(name);
    try {
      if (!client) {
        const fresh = new pg.Client(clientConfig(target, timeoutMs));
        fresh.on('error', () => {
          if (this.clients.get(name) === fresh) this.clients.delete(name);
          destroy(fresh);
        });
        await bounded(fresh, timeoutMs + 200, () => fresh.connect());
        this.clients.set(name, fresh);
        client = fresh;
      }
      const c = client;
      const sentAt = this.now();
      const upsert = () =>
        c.query<{ at: string }>(
          `INSERT INTO ${PROBE_TABLE} (node, probed_at) VALUES ($1, clock_timestamp()) ON CONFLICT (node) DO UPDATE SET probed_at = EXCLUDED.probed_at RETURNING (extract(epoch FROM probed_at) * 1000)::float8 AS at`,
          [name],
        );
      const serverAt = await bounded(c, timeoutMs, async () => {
        try {
          return Number((await upsert()).rows[0]?.at);
        } catch (error) {
          // A primary that never had the table: creating it is a write just as good.
          if ((error as { code?: string }).code !== '42P01') throw error;
          await c.query(CREATE_PROBE_TABLE);
          return NaN;
        }
      });
      this.acks.push({ node: name, sentAt, ackedAt: this.now(), ...(Number.isFinite(serverAt) ? { serverAt } : {}) });
    } catch {
      const c = this.clients.get(name);
      if (c) destroy(c);
      this.clients.delete(name);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.inFlight.values());
    for (const c of this.clients.values()) destroy(c);
    this.clients.clear();
  }

  /** See {@link maxWritablePrimaries}. */
  maxWritable(): WritableOverlap {
    return maxWritablePrimaries(this.acks);
  }
}

/** The most nodes that may have accepted writes at one moment, when, and the probes that show it. */
export interface WritableOverlap {
  count: number;
  nodes: string[];
  at: number | null;
  /** One acknowledged probe per node, all open at `at` (the evidence). */
  evidence: ProbeAck[];
}

/**
 * The most distinct nodes that may have accepted a write at the same moment: the largest set of
 * nodes whose acknowledged probe intervals overlap. An interval starts at the later of the send and
 * the server's own statement time and ends at the acknowledgement. Conservative — two intervals
 * that merely touch count as simultaneous — so a result of 1 is a proof, not an estimate.
 */
export function maxWritablePrimaries(acks: readonly ProbeAck[]): WritableOverlap {
  // Sweep: opening before closing at equal times (touching counts as overlap). The server's
  // statement time can read a hair later than the client's acknowledgement (two clocks, rounding):
  // an interval never starts after its own end, or its close would come first and leave it open
  // for ever, overlapping every later primary.
  const events = acks.flatMap((a) => [
    { t: Math.min(Math.max(a.sentAt, a.serverAt ?? a.sentAt), a.ackedAt), open: true, ack: a },
    { t: a.ackedAt, open: false, ack: a },
  ]);
  events.sort((x, y) => x.t - y.t || (x.open === y.open ? 0 : x.open ? -1 : 1));
  const open = new Map<string, ProbeAck[]>();
  let best: WritableOverlap = { count: 0, nodes: [], at: null, evidence: [] };
  for (const e of events) {
    const node = e.ack.node;
    const list = open.get(node) ?? [];
    if (e.open) {
      list.push(e.ack);
      open.set(node, list);
      if (open.size > best.count) {
        const nodes = [...open.keys()].sort();
        best = { count: open.size, nodes, at: e.t, evidence: nodes.map((n) => open.get(n)?.[0] as ProbeAck) };
      }
    } else {
      const rest = list.filter((a) => a !== e.ack);
      if (rest.length === 0) open.delete(node);
      else open.set(node, rest);
    }
  }
  return best;
}
