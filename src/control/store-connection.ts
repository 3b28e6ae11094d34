/**
 * The connection every shared-state concern uses (operator states, fleet loads, open deploy
 * tasks): a small pg pool, every operation within a deadline (`DEADLINE_MS`) that destroys its
 * connection when missed (a PostgreSQL that hangs is reported down at once, and nothing it reads
 * later is mistaken for an answer), the tables created again when dropped, and the store's up/down
 * state (`stickylb_state_store_up`, logged once per outage).
 */
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';

const SCHEMA_VERSION = 1;
/** Longest time any one store operation may take, connecting included. */
export const DEADLINE_MS = 3000;
/** PostgreSQL's undefined_table: a table was dropped under us; they are created again. */
const UNDEFINED_TABLE = '42P01';

/** stickylb's tables (`stickylb_` prefix), created when missing. */
export const DDL = [
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
  `CREATE TABLE IF NOT EXISTS stickylb_content_ejections (
     instance text NOT NULL,
     content text NOT NULL,
     node text NOT NULL,
     until timestamptz NOT NULL,
     ejections integer NOT NULL,
     PRIMARY KEY (instance, content, node)
   )`,
  `INSERT INTO stickylb_meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING`,
];

/** An operation missed its deadline (the store hangs); whatever it sent was abandoned. */
export class DeadlineMissed extends Error {
  constructor(ms: number) {
    super(`the state store did not answer within ${ms} ms`);
  }
}

/** One replica's connection to the shared store. */
export class StoreConnection {
  readonly url: string;
  readonly deadlineMs: number;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #queries: pg.Pool;
  #up = false;
  /** An outage was logged already (it is logged once, not once per failed operation). */
  #seenDown = false;

  constructor(url: string, logger: Logger, metrics: Metrics, deadlineMs = DEADLINE_MS) {
    this.url = url;
    this.deadlineMs = deadlineMs;
    this.#log = logger;
    this.#metrics = metrics;
    this.#queries = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: deadlineMs });
    // A dropped idle connection is routine (PostgreSQL restarted): the next query reconnects.
    this.#queries.on('error', (err) => this.#log.debug({ err }, 'idle connection to the state store lost'));
    metrics.stateStoreUp.set(0);
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.#queries.end();
  }

  /**
   * Runs `work` on a pooled connection within the deadline. A missed deadline destroys the
   * connection (never reused with a statement in flight) and rejects with DeadlineMissed.
   */
  async op<T>(work: (client: pg.PoolClient, started: number) => Promise<T>): Promise<T> {
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
        reject(new DeadlineMissed(this.deadlineMs));
      }, this.deadlineMs);
    });
    const run = (async () => {
      const acquired = await this.#queries.connect();
      acquired.on('error', onError);
      if (expired) {
        acquired.release(true);
        throw new DeadlineMissed(this.deadlineMs);
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
  async withSchema<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNDEFINED_TABLE) throw err;
      this.#log.warn({}, 'the shared state table is missing; creating it again');
      await this.op(async (client) => {
        for (const statement of DDL) await client.query(statement);
      });
      return operation();
    }
  }

  /** An operation succeeded: the store is up. */
  markUp(): void {
    if (this.#up) return;
    this.#up = true;
    this.#metrics.stateStoreUp.set(1);
  }

  /** An operation failed: the store is down (logged once per outage). */
  down(err: unknown): void {
    this.#metrics.stateStoreUp.set(0);
    if (!this.#up && this.#seenDown) return;
    this.#up = false;
    this.#seenDown = true;
    this.#log.warn({ err }, 'shared state store unreachable; keeping the last known states');
  }
}

/** `promise`, or a DeadlineMissed rejection after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineMissed(ms)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
