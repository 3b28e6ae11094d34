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
 */
import pg from 'pg';
import type { OperatorState } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';

const SCHEMA_VERSION = 1;
const CHANNEL = 'stickylb_node_states';
/** How often the whole table is read again, whatever the notifications said. */
const REREAD_MS = 10_000;
const BACKOFF_MAX_MS = 30_000;
/** How long a starting replica waits for the first read before it reports ready anyway. */
export const FIRST_READ_WAIT_MS = 10_000;

const DDL = [
  `CREATE TABLE IF NOT EXISTS stickylb_meta (key text PRIMARY KEY, value text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS stickylb_node_states (
     node text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('active', 'draining', 'maintenance')),
     config_state text NOT NULL,
     set_at timestamptz NOT NULL DEFAULT now(),
     set_by text NOT NULL
   )`,
  `INSERT INTO stickylb_meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING`,
];

interface Row {
  node: string;
  state: OperatorState;
  config_state: OperatorState;
  set_at: Date;
  set_by: string;
}

/** The store is unreachable: the change was not made anywhere. */
export class StoreUnavailableError extends Error {
  readonly code = 'STATE_STORE_UNAVAILABLE';
}

/** One replica's connection to the shared operator states. */
export class SharedStateStore {
  readonly #pool: Pool;
  readonly #replica: string;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #queries: pg.Pool;
  readonly #url: string;
  #listener: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = 1000;
  #closed = false;
  #firstRead: Promise<void>;
  #firstReadDone: () => void = () => {};

  constructor(url: string, pool: Pool, replica: string, logger: Logger, metrics: Metrics) {
    this.#url = url;
    this.#pool = pool;
    this.#replica = replica;
    this.#log = logger.child({ component: 'shared-state' });
    this.#metrics = metrics;
    this.#queries = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 3000 });
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
   * (nothing changed anywhere) when the store cannot be written.
   */
  async set(node: UpstreamNode, state: OperatorState): Promise<void> {
    try {
      await this.#queries.query(
        `INSERT INTO stickylb_node_states (node, state, config_state, set_at, set_by)
         VALUES ($1, $2, $3, now(), $4)
         ON CONFLICT (node) DO UPDATE SET state = $2, config_state = $3, set_at = now(), set_by = $4`,
        [node.name, state, node.configState, this.#replica],
      );
      await this.#queries.query('SELECT pg_notify($1, $2)', [CHANNEL, node.name]);
    } catch (err) {
      this.#down(err);
      throw new StoreUnavailableError('the shared state store is unreachable', { cause: err });
    }
    this.#pool.setState(node, state, 'admin', { origin: 'api', at: Date.now(), by: this.#replica });
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([this.#listener?.end(), this.#queries.end()]);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const listener = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 3000 });
    try {
      listener.on('error', (err) => this.#lost(listener, err));
      listener.on('end', () => this.#lost(listener, new Error('connection ended')));
      await listener.connect();
      for (const statement of DDL) await listener.query(statement);
      await listener.query(`LISTEN ${CHANNEL}`);
      listener.on('notification', () => void this.#read());
      this.#listener = listener;
      await this.#read();
      this.#backoffMs = 1000;
      this.#schedule(REREAD_MS);
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
      await this.#read();
      if (this.#listener !== undefined) this.#schedule(REREAD_MS);
    }, ms);
    this.#timer.unref();
  }

  /** Reads every row and applies what differs; a failure marks the store down. */
  async #read(): Promise<void> {
    let rows: Row[];
    try {
      rows = (
        await this.#queries.query<Row>(
          'SELECT node, state, config_state, set_at, set_by FROM stickylb_node_states',
        )
      ).rows;
    } catch (err) {
      this.#down(err);
      return;
    }
    this.#metrics.stateStoreUp.set(1);
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

  #down(err: unknown): void {
    this.#metrics.stateStoreUp.set(0);
    this.#log.warn({ err }, 'shared state store unreachable; keeping the last known states');
  }
}
