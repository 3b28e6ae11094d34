/**
 * What replicas share about their traffic through the store, off the request path (rules 10 and
 * 12): each process's sessions, requests and apps per node, published about once a second with
 * the other replicas' fresh sums read back (placement bounds the fleet's load, not one replica's
 * view), the deploy tasks each replica saw start, so `drain --wait` through any replica waits
 * for a deploy made through another, and the contents each replica ejected from a node (rule 13).
 */
import { randomBytes } from 'node:crypto';
import type { Ejection } from '../pool/content-health.js';
import type { OpenTasks, TaskChange } from '../pool/open-tasks.js';
import type { NodeLoad } from '../pool/upstream-node.js';
import type { StoreConnection } from './store-connection.js';

/** Load counts older than this are another replica's that stopped: not counted (rule 10). */
export const LOADS_FRESH_SECONDS = 5;
const PUBLISH_LOADS = `INSERT INTO stickylb_loads (instance, node, load, contents, at)
  SELECT $1, n, l, c, now() FROM unnest($2::text[], $3::int[], $4::text[]) AS t(n, l, c)
  ON CONFLICT (instance, node) DO UPDATE SET load = EXCLUDED.load, contents = EXCLUDED.contents, at = now()`;
const OTHERS_LOADS = `SELECT node, sum(load)::int AS load, string_agg(contents, ',') AS contents FROM stickylb_loads
  WHERE instance <> $1 AND at > now() - make_interval(secs => ${LOADS_FRESH_SECONDS}) GROUP BY node`;
const FORGET_LOADS = `DELETE FROM stickylb_loads WHERE at < now() - interval '1 minute'`;

/**
 * Rule 13 across replicas: each process's current ejections replace its rows; the others' that
 * have not ended are read back. A replica that restarts (a new instance) reads what its former self
 * decided until that ends: it does not forget.
 */
const CLEAR_EJECTIONS = 'DELETE FROM stickylb_content_ejections WHERE instance = $1';
const PUBLISH_EJECTIONS = `INSERT INTO stickylb_content_ejections (instance, content, node, until, ejections)
  SELECT $1, c, n, to_timestamp(u / 1000.0), e FROM unnest($2::text[], $3::text[], $4::float8[], $5::int[]) AS t(c, n, u, e)`;
const OTHERS_EJECTIONS = `SELECT content, node, extract(epoch FROM until) * 1000 AS until, ejections
  FROM stickylb_content_ejections WHERE instance <> $1 AND until > now() LIMIT 10000`;
const FORGET_EJECTIONS = `DELETE FROM stickylb_content_ejections WHERE until < now() - interval '1 hour'`;
/** An admin gave a node its contents back: every replica's record of them goes. */
const CLEAR_NODE_EJECTIONS = 'DELETE FROM stickylb_content_ejections WHERE node = $1';

/** Open deploy tasks per node across the fleet; tasks unpolled for `$1` seconds are forgotten. */
const FORGET_TASKS = 'DELETE FROM stickylb_open_tasks WHERE last_seen < now() - make_interval(secs => $1)';
const COUNT_TASKS = 'SELECT node, count(*)::int AS n FROM stickylb_open_tasks GROUP BY node';
const OPEN_TASK = `INSERT INTO stickylb_open_tasks (task_id, node) VALUES ($1, $2)
  ON CONFLICT (task_id) DO UPDATE SET node = $2, last_seen = now()`;
const POLLED_TASK = 'UPDATE stickylb_open_tasks SET last_seen = now() WHERE task_id = $1';
const FINISHED_TASK = 'DELETE FROM stickylb_open_tasks WHERE task_id = $1';
/** Task changes kept for a store that is down (the oldest go first beyond it). */
const MAX_PENDING = 10_000;

/** One process's share of the fleet's traffic state. */
export class SharedFleet {
  readonly #conn: StoreConnection;
  readonly #tasks: OpenTasks;
  /** This process among the fleet's load counts (a replica name is not unique: two may share a host). */
  readonly #instance: string;
  /** Task changes not yet written (the store was down), oldest first: retried before the next read. */
  readonly #pending: TaskChange[] = [];
  #flushing = false;
  /** This process's ejections as last written (their key), so an unchanged set is not rewritten. */
  #published = '';
  #publishedAt = 0;

  constructor(conn: StoreConnection, replica: string, tasks: OpenTasks) {
    this.#conn = conn;
    this.#tasks = tasks;
    this.#instance = `${replica}#${process.pid}-${randomBytes(4).toString('hex')}`;
    tasks.onChange = (change) => void this.#recordTask(change);
  }

  /**
   * Publishes this process's load per node and reads the other replicas' sums (and the fleet's open
   * deploy tasks, handed to the tracker). Undefined when the store cannot tell (it is down).
   */
  async exchangeLoads(mine: ReadonlyMap<string, NodeLoad>): Promise<Map<string, NodeLoad> | undefined> {
    const conn = this.#conn;
    try {
      const readAt = Date.now();
      const [loads, tasks, current] = await conn.withSchema(() =>
        conn.op(async (client) => {
          // Writes a failure left behind go first, so the counts read below include them.
          const written = await this.#flush(client);
          const values = [...mine.values()];
          await client.query(PUBLISH_LOADS, [
            this.#instance,
            [...mine.keys()],
            values.map((v) => v.load),
            values.map((v) => v.contents.join(',')),
          ]);
          if (Math.random() < 0.02) await client.query(FORGET_LOADS);
          await client.query(FORGET_TASKS, [this.#tasks.timeoutMs / 1000]);
          const others = await client.query<{ node: string; load: number; contents: string | null }>(
            OTHERS_LOADS,
            [this.#instance],
          );
          const open = await client.query<{ node: string; n: number }>(COUNT_TASKS);
          return [others.rows, open.rows, written && this.#pending.length === 0] as const;
        }),
      );
      conn.markUp();
      this.#tasks.setShared(new Map(tasks.map((t) => [t.node, t.n])), current, readAt);
      return new Map(
        loads.map((r) => [
          r.node,
          { load: r.load, contents: [...new Set((r.contents ?? '').split(',').filter(Boolean))] },
        ]),
      );
    } catch (err) {
      conn.down(err);
      this.#tasks.sharedStale();
      return undefined;
    }
  }

  /**
   * Publishes this process's ejections (rule 13) and reads the rest of the fleet's that have not
   * ended; undefined when the store cannot tell (it is down).
   */
  async exchangeEjections(mine: readonly Ejection[]): Promise<Ejection[] | undefined> {
    const conn = this.#conn;
    const key = mine.map((e) => `${e.content} ${e.node} ${e.until}`).join('\n');
    try {
      const rows = await conn.withSchema(() =>
        conn.op(async (client) => {
          // Written when this process's set changed since it was last written (and once a minute,
          // should the rows have gone with a dropped table), not every second.
          if (key !== this.#published || Date.now() - this.#publishedAt > 60_000)
            await this.#publish(client, mine, key);
          if (Math.random() < 0.02) await client.query(FORGET_EJECTIONS);
          const others = await client.query<{
            content: string;
            node: string;
            until: string;
            ejections: number;
          }>(OTHERS_EJECTIONS, [this.#instance]);
          return others.rows;
        }),
      );
      return rows.map((r) => ({
        content: r.content,
        node: r.node,
        until: Number(r.until),
        ejections: r.ejections,
      }));
    } catch (err) {
      conn.down(err);
      return undefined;
    }
  }

  /** Replaces this process's rows with `mine`; remembers what was written once it was. */
  async #publish(
    client: { query(sql: string, params: unknown[]): Promise<unknown> },
    mine: readonly Ejection[],
    key: string,
  ): Promise<void> {
    await client.query(CLEAR_EJECTIONS, [this.#instance]);
    if (mine.length > 0) {
      await client.query(PUBLISH_EJECTIONS, [
        this.#instance,
        mine.map((e) => e.content),
        mine.map((e) => e.node),
        mine.map((e) => e.until),
        mine.map((e) => e.ejections),
      ]);
    }
    this.#published = key;
    this.#publishedAt = Date.now();
  }

  /** An admin cleared `node`'s ejections: the fleet's records of them go too. Never throws. */
  async clearEjections(node: string): Promise<void> {
    const conn = this.#conn;
    try {
      await conn.withSchema(() => conn.op((client) => client.query(CLEAR_NODE_EJECTIONS, [node])));
    } catch (err) {
      conn.down(err);
    }
  }

  /** Stops recording task changes. */
  close(): void {
    this.#tasks.onChange = undefined;
  }

  /**
   * Records a deploy task's change for the fleet: queued and written now; a write that fails stays
   * queued (and the store is marked down) until a later write or read gets it through. Never throws.
   */
  async #recordTask(change: TaskChange): Promise<void> {
    // Beyond the bound the second oldest goes (the oldest may be being written).
    if (this.#pending.length >= MAX_PENDING) this.#pending.splice(1, 1);
    this.#pending.push(change);
    this.#tasks.sharedStale();
    const conn = this.#conn;
    try {
      await conn.withSchema(() => conn.op((client) => this.#flush(client)));
    } catch (err) {
      conn.down(err);
    }
  }

  /**
   * Writes the queued task changes in order, one writer at a time (a change written twice out of
   * order could reopen a finished task); true once none is left, false when another flush runs
   * (it writes what is queued, this one included).
   */
  async #flush(client: { query(sql: string, params: unknown[]): Promise<unknown> }): Promise<boolean> {
    if (this.#flushing) return false;
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const change = this.#pending[0]!;
        const [sql, params] =
          change.kind === 'opened'
            ? [OPEN_TASK, [change.id, change.node]]
            : [change.finished ? FINISHED_TASK : POLLED_TASK, [change.id]];
        await client.query(sql, params);
        this.#pending.shift();
      }
      return true;
    } finally {
      this.#flushing = false;
    }
  }
}
