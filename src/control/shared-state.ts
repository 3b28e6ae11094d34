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
import pg from 'pg';
import type { OperatorState } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { OpenTasks } from '../pool/open-tasks.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { SharedFleet } from './shared-fleet.js';
import { DDL, DEADLINE_MS, DeadlineMissed, StoreConnection, withDeadline } from './store-connection.js';

const CHANNEL = 'stickylb_node_states';
/** How often this replica's nodes are read again, whatever the notifications said (and the store's liveness). */
const REREAD_MS = 2000;
const BACKOFF_MAX_MS = 30_000;
/** How long a starting replica waits for the first read before it reports ready anyway. */
export const FIRST_READ_WAIT_MS = 10_000;

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

interface Row {
  node: string;
  state: OperatorState;
  config_state: OperatorState;
  set_at: Date;
  set_by: string;
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
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #conn: StoreConnection;
  /** The fleet's loads and open deploy tasks, over the same connection. */
  readonly fleet: SharedFleet;
  readonly #deadlineMs: number;
  readonly #rereadMs: number;
  #listener: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = 1000;
  #closed = false;
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
    this.#pool = pool;
    this.#replica = replica;
    this.#log = logger.child({ component: 'shared-state' });
    this.#deadlineMs = timing.deadlineMs ?? DEADLINE_MS;
    this.#rereadMs = timing.rereadMs ?? REREAD_MS;
    this.#conn = new StoreConnection(url, this.#log, metrics, this.#deadlineMs);
    this.#metrics = metrics;
    this.fleet = new SharedFleet(this.#conn, replica, tasks);
    this.#firstRead = new Promise((resolve) => {
      this.#firstReadDone = resolve;
    });
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
      const written = await this.#conn.withSchema(() =>
        this.#conn.op(async (client, started) => {
          const now = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now');
          return write(client, started, now.rows[0]!.now);
        }),
      );
      if (written.rowCount !== 1) throw new DeadlineMissed(this.#deadlineMs);
    } catch (err) {
      this.#conn.down(err);
      throw new StoreUnavailableError('the shared state store is unreachable', err);
    }
    this.#conn.markUp();
    this.#pool.setState(node, state, 'admin', { origin: 'api', at: Date.now(), by: this.#replica });
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.fleet.close();
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([this.#listener?.end(), this.#conn.close()]);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const listener = new pg.Client({
      connectionString: this.#conn.url,
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
    this.#conn.down(err);
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
    try {
      rows = await this.#conn.withSchema(() =>
        this.#conn.op(async (client) => (await client.query<Row>(READ, [wanted])).rows),
      );
    } catch (err) {
      this.#conn.down(err);
      return;
    }
    this.#conn.markUp();
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
}
