/**
 * Operator states shared by every replica through PostgreSQL (`sharedState.url`), the database a
 * Connect HA cluster already runs. stickylb keeps one small table of its own (`stickylb_` prefix,
 * created if missing, versioned), writes every state set through the admin API there, and learns the
 * other replicas' changes at once through LISTEN/NOTIFY, with a periodic re-read as a safety net.
 *
 * The store is never on the request path and never stops traffic: while PostgreSQL is unreachable
 * the replica keeps the states it last knew, retries with backoff and catches up when it returns;
 * an API change made meanwhile is refused (the caller answers 503 STATE_STORE_UNAVAILABLE) rather
 * than applied on one replica only.
 *
 * Every operation has a deadline (`DEADLINE_MS`): a PostgreSQL that hangs (stopped, partitioned)
 * rather than refusing is reported down as soon as one operation misses it. A write that missed
 * its deadline must never take effect later, when the server resumes and reads the statement
 * still buffered in its socket: the write carries its own deadline in the server's clock (read
 * at the start of the operation) and inserts nothing once it has passed, so a caller told 503
 * changed nothing anywhere.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { OperatorState } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { OpenTasks, TaskChange } from '../pool/open-tasks.js';
import type { Pool } from '../pool/pool.js';
import type { NodeLoad, UpstreamNode } from '../pool/upstream-node.js';

const SCHEMA_VERSION = 1;
const CHANNEL = 'stickylb_node_states';
/** How often this replica's nodes are read again, whatever the notifications said (and the store's liveness). */
const REREAD_MS = 2000;
/** Longest time any one store operation may take, connecting included. */
export const DEADLINE_MS = 3000;
const BACKOFF_MAX_MS = 30_000;
/** How long a starting replica waits for the first read before it reports ready anyway. */
export const FIRST_READ_WAIT_MS = 10_000;
/** PostgreSQL's undefined_table: the table was dropped under us; it is created again. */
const UNDEFINED_TABLE = '42P01';

const DDL = [
  `CREATE TABLE IF NOT EXISTS stickylb_meta (key text PRIMARY KEY, value text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS stickylb_node_states (
     node text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('active', 'draining', 'maintenance')),
     config_state text NOT NULL,
     set_at timestamptz NOT NULL DEFAULT now(),
     set_by text NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS stickylb_open_tasks (
     task_id text PRIMARY KEY,
     node text NOT NULL,
     last_seen timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE TABLE IF NOT EXISTS stickylb_loads (
     instance text NOT NULL,
     node text NOT NULL,
     load integer NOT NULL,
     contents text NOT NULL DEFAULT '',
     at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (instance, node)
   )`,
  `INSERT INTO stickylb_meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING`,
];

/**
 * The write and its notification in one statement (one commit), guarded by a deadline in the
 * server's own clock: a statement read late, after a hang, inserts and notifies nothing.
 */
export const GUARDED_WRITE = `WITH written AS (
    INSERT INTO stickylb_node_states (node, state, config_state, set_at, set_by)
    SELECT $1, $2, $3, now(), $4
    WHERE clock_timestamp() < $5::timestamptz + make_interval(secs => $6)
    ON CONFLICT (node) DO UPDATE SET state = $2, config_state = $3, set_at = now(), set_by = $4
    RETURNING node
  )
  SELECT pg_notify('${CHANNEL}', node) FROM written`;

const READ =
  'SELECT node, state, config_state, set_at, set_by FROM stickylb_node_states WHERE node = ANY($1)';

/** Open deploy tasks per node across the fleet; tasks unpolled for `$1` seconds are forgotten. */
const FORGET_TASKS = 'DELETE FROM stickylb_open_tasks WHERE last_seen < now() - make_interval(secs => $1)';
const COUNT_TASKS = 'SELECT node, count(*)::int AS n FROM stickylb_open_tasks GROUP BY node';
const OPEN_TASK = `INSERT INTO stickylb_open_tasks (task_id, node) VALUES ($1, $2)
  ON CONFLICT (task_id) DO UPDATE SET node = $2, last_seen = now()`;
const POLLED_TASK = 'UPDATE stickylb_open_tasks SET last_seen = now() WHERE task_id = $1';
const FINISHED_TASK = 'DELETE FROM stickylb_open_tasks WHERE task_id = $1';

/** Load counts older than this are another replica's that stopped: not counted (rule 10). */
const LOADS_FRESH_SECONDS = 5;
const PUBLISH_LOADS = `INSERT INTO stickylb_loads (instance, node, load, contents, at)
  SELECT $1, n, l, c, now() FROM unnest($2::text[], $3::int[], $4::text[]) AS t(n, l, c)
  ON CONFLICT (instance, node) DO UPDATE SET load = EXCLUDED.load, contents = EXCLUDED.contents, at = now()`;
const OTHERS_LOADS = `SELECT node, sum(load)::int AS load, string_agg(contents, ',') AS contents FROM stickylb_loads
  WHERE instance <> $1 AND at > now() - make_interval(secs => ${LOADS_FRESH_SECONDS}) GROUP BY node`;
const FORGET_LOADS = `DELETE FROM stickylb_loads WHERE at < now() - interval '1 minute'`;

interface Row {
  node: string;
  state: OperatorState;
  config_state: OperatorState;
  set_at: Date;
  set_by: string;
}

/** An operation missed its deadline (the store hangs); whatever it sent was abandoned. */
class DeadlineMissed extends Error {
  constructor(ms: number) {
    super(`the state store did not answer within ${ms} ms`);
  }
}

/** Timing of the store's operations (tests shorten them). */
export interface StoreTiming {
  readonly deadlineMs?: number | undefined;
  readonly rereadMs?: number | undefined;
}

/** One replica's connection to the shared operator states. */
export class SharedStateStore {
  readonly #pool: Pool;
  readonly #replica: string;
  /** This process among the fleet's load counts (a replica name is not unique: two may share a host). */
  readonly #instance: string;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #tasks: OpenTasks;
  readonly #queries: pg.Pool;
  readonly #url: string;
  readonly #deadlineMs: number;
  readonly #rereadMs: number;
  #listener: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = 1000;
  #closed = false;
  #up = false;
  /** An outage was logged already (it is logged once, not once per failed operation). */
  #seenDown = false;
  #firstRead: Promise<void>;
  #firstReadDone: () => void = () => {};
  /** Nodes named by notifications since the last read (undefined: none pending). */
  #notified: Set<string> | undefined;
  /** The read under way, if any: notifications arriving meanwhile wait for it, then read once. */
  #reading: Promise<void> | undefined;

  constructor(
    url: string,
    pool: Pool,
    replica: string,
    logger: Logger,
    metrics: Metrics,
    tasks: OpenTasks,
    timing: StoreTiming = {},
  ) {
    this.#tasks = tasks;
    this.#instance = `${replica}#${process.pid}-${randomBytes(4).toString('hex')}`;
    tasks.onChange = (change) => void this.#recordTask(change);
    this.#url = url;
    this.#pool = pool;
    this.#replica = replica;
    this.#log = logger.child({ component: 'shared-state' });
    this.#metrics = metrics;
    this.#deadlineMs = timing.deadlineMs ?? DEADLINE_MS;
    this.#rereadMs = timing.rereadMs ?? REREAD_MS;
    this.#queries = new pg.Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: this.#deadlineMs,
    });
    // A dropped idle connection is routine (PostgreSQL restarted): the next query reconnects.
    this.#queries.on('error', (err) => this.#log.debug({ err }, 'idle connection to the state store lost'));
    this.#firstRead = new Promise((resolve) => {
      this.#firstReadDone = resolve;
    });
    metrics.stateStoreUp.set(0);
  }

  /** Connects in the background; resolves after the first read or `FIRST_READ_WAIT_MS`, whichever is first. */
  async start(waitMs = FIRST_READ_WAIT_MS): Promise<void> {
    void this.#connect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#firstRead, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /**
   * Records an API change for every replica, then applies it here. Throws StoreUnavailableError
   * (nothing changed anywhere, now or later) when the store cannot be written within the deadline.
   */
  async set(node: UpstreamNode, state: OperatorState): Promise<void> {
    const write = (client: pg.PoolClient, started: number, serverNow: string) =>
      client.query(GUARDED_WRITE, [
        node.name,
        state,
        node.configState,
        this.#replica,
        serverNow,
        // What is left of the deadline, measured from when the server's clock was read.
        Math.max(0, this.#deadlineMs - (performance.now() - started)) / 1000,
      ]);
    try {
      const written = await this.#withSchema(() =>
        this.#op(async (client, started) => {
          const now = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now');
          return write(client, started, now.rows[0]!.now);
        }),
      );
      if (written.rowCount !== 1) throw new DeadlineMissed(this.#deadlineMs);
    } catch (err) {
      this.#down(err);
      throw new StoreUnavailableError('the shared state store is unreachable', err);
    }
    this.#markUp();
    this.#pool.setState(node, state, 'admin', { origin: 'api', at: Date.now(), by: this.#replica });
  }

  /**
   * Publishes this replica's sessions and requests per node and reads the other replicas' sums
   * (rule 10: the bound is the fleet's). Undefined when the store cannot tell (it is down).
   */
  async exchangeLoads(mine: ReadonlyMap<string, NodeLoad>): Promise<Map<string, NodeLoad> | undefined> {
    try {
      const rows = await this.#withSchema(() =>
        this.#op(async (client) => {
          const values = [...mine.values()];
          await client.query(PUBLISH_LOADS, [
            this.#instance,
            [...mine.keys()],
            values.map((v) => v.load),
            values.map((v) => v.contents.join(',')),
          ]);
          if (Math.random() < 0.02) await client.query(FORGET_LOADS);
          return (
            await client.query<{ node: string; load: number; contents: string | null }>(OTHERS_LOADS, [
              this.#instance,
            ])
          ).rows;
        }),
      );
      this.#markUp();
      return new Map(
        rows.map((r) => [
          r.node,
          { load: r.load, contents: [...new Set((r.contents ?? '').split(',').filter(Boolean))] },
        ]),
      );
    } catch (err) {
      this.#down(err);
      return undefined;
    }
  }

  /** Records a deploy task's change for the fleet; a failure marks the store down, never throws. */
  async #recordTask(change: TaskChange): Promise<void> {
    const [sql, params] =
      change.kind === 'opened'
        ? [OPEN_TASK, [change.id, change.node]]
        : [change.finished ? FINISHED_TASK : POLLED_TASK, [change.id]];
    try {
      await this.#withSchema(() => this.#op((client) => client.query(sql, params)));
    } catch (err) {
      this.#down(err);
    }
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#tasks.onChange = undefined;
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([this.#listener?.end(), this.#queries.end()]);
  }

  /**
   * Runs `work` on a pooled connection within the deadline. A missed deadline destroys the
   * connection (never reused with a statement in flight) and rejects with DeadlineMissed.
   */
  async #op<T>(work: (client: pg.PoolClient, started: number) => Promise<T>): Promise<T> {
    const started = performance.now();
    let client: pg.PoolClient | undefined;
    let expired = false;
    let released = false;
    // A checked-out client has no pool listener: its connection lost is a failed operation, not a crash.
    const onError = (err: Error) => this.#log.debug({ err }, 'state store connection lost mid-operation');
    const release = (destroy: boolean) => {
      if (client === undefined || released) return;
      released = true;
      if (!destroy) client.removeListener('error', onError);
      client.release(destroy);
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        release(true);
        reject(new DeadlineMissed(this.#deadlineMs));
      }, this.#deadlineMs);
    });
    const run = (async () => {
      const acquired = await this.#queries.connect();
      acquired.on('error', onError);
      if (expired) {
        acquired.release(true);
        throw new DeadlineMissed(this.#deadlineMs);
      }
      client = acquired;
      return work(acquired, started);
    })();
    run.catch(() => {}); // the deadline may have answered already
    try {
      const result = await Promise.race([run, deadline]);
      release(false);
      return result;
    } catch (err) {
      release(true);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `operation`; when the table was dropped meanwhile, creates it again and runs it once more. */
  async #withSchema<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNDEFINED_TABLE) throw err;
      this.#log.warn({}, 'the shared state table is missing; creating it again');
      await this.#op(async (client) => {
        for (const statement of DDL) await client.query(statement);
      });
      return operation();
    }
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const listener = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: this.#deadlineMs,
    });
    try {
      listener.on('error', (err) => this.#lost(listener, err));
      listener.on('end', () => this.#lost(listener, new Error('connection ended')));
      await withDeadline(listener.connect(), this.#deadlineMs);
      for (const statement of DDL) await withDeadline(listener.query(statement), this.#deadlineMs);
      await withDeadline(listener.query(`LISTEN ${CHANNEL}`), this.#deadlineMs);
      listener.on('notification', (n) => this.#onNotify(n.payload));
      this.#listener = listener;
      await this.#read(undefined);
      this.#backoffMs = 1000;
      this.#schedule(this.#rereadMs);
    } catch (err) {
      this.#lost(listener, err);
    }
  }

  /** The listening connection failed: keep the last states, reconnect with backoff. */
  #lost(listener: pg.Client, err: unknown): void {
    if (this.#listener !== undefined && this.#listener !== listener) return;
    this.#listener = undefined;
    void listener.end().catch(() => {});
    this.#down(err);
    if (this.#closed) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), delay);
    this.#timer.unref();
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      await this.#read(undefined);
      if (this.#listener !== undefined) this.#schedule(this.#rereadMs);
    }, ms);
    this.#timer.unref();
  }

  /**
   * A notification names the node that changed: notifications are coalesced into one read of the
   * nodes they named, started once the read under way (if any) has finished.
   */
  #onNotify(payload: string | undefined): void {
    if (payload === undefined || this.#pool.get(payload) === undefined) return;
    const first = this.#notified === undefined;
    this.#notified ??= new Set();
    this.#notified.add(payload);
    if (!first) return;
    const previous = this.#reading ?? Promise.resolve();
    void previous.then(() => {
      const names = this.#notified;
      this.#notified = undefined;
      return this.#read(names);
    });
  }

  /**
   * Reads the rows of `names` (every node of this replica when undefined; never rows of nodes it
   * does not have) and applies what differs; a failure marks the store down.
   */
  #read(names: ReadonlySet<string> | undefined): Promise<void> {
    const reading = this.#readNow(names).finally(() => {
      if (this.#reading === reading) this.#reading = undefined;
    });
    this.#reading = reading;
    return reading;
  }

  async #readNow(names: ReadonlySet<string> | undefined): Promise<void> {
    const wanted = names === undefined ? this.#pool.nodes.map((n) => n.name) : [...names];
    let rows: readonly Row[];
    let tasks: ReadonlyArray<{ node: string; n: number }> | undefined;
    try {
      [rows, tasks] = await this.#withSchema(() =>
        this.#op(async (client) => {
          const states = (await client.query<Row>(READ, [wanted])).rows;
          // The full re-read also counts the fleet's open deploy tasks.
          if (names !== undefined) return [states, undefined] as const;
          await client.query(FORGET_TASKS, [this.#tasks.timeoutMs / 1000]);
          return [states, (await client.query<{ node: string; n: number }>(COUNT_TASKS)).rows] as const;
        }),
      );
    } catch (err) {
      this.#down(err);
      return;
    }
    this.#markUp();
    if (tasks !== undefined) this.#tasks.setShared(new Map(tasks.map((t) => [t.node, t.n])));
    for (const row of rows) this.#apply(row);
    this.#firstReadDone();
  }

  #apply(row: Row): void {
    const node = this.#pool.get(row.node);
    // A row for a node this replica does not have (yet) is applied when it appears (next read).
    if (node === undefined) return;
    // The YAML changed this node's state since the API set it: the YAML wins.
    if (row.config_state !== node.configState) return;
    const at = row.set_at.getTime();
    if (node.state === row.state && node.stateSource.origin === 'api' && node.stateSource.at === at) return;
    const changed = this.#pool.setState(node, row.state, 'shared', { origin: 'api', at, by: row.set_by });
    if (changed) {
      this.#metrics.stateChangesApplied.inc();
      this.#log.info(
        { upstream: node.name, state: row.state, by: row.set_by },
        'node state set by another replica',
      );
    }
  }

  #markUp(): void {
    if (this.#up) return;
    this.#up = true;
    this.#metrics.stateStoreUp.set(1);
  }

  #down(err: unknown): void {
    this.#metrics.stateStoreUp.set(0);
    if (!this.#up && this.#seenDown) return;
    this.#up = false;
    this.#seenDown = true;
    this.#log.warn({ err }, 'shared state store unreachable; keeping the last known states');
  }
}

/** `promise`, or a DeadlineMissed rejection after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineMissed(ms)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
