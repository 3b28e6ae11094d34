/**
 * What replicas share about their traffic through the store, off the request path (rules 10 and
 * 12): each process's sessions, requests and apps per node, published about once a second with
 * the other replicas' fresh sums read back (placement bounds the fleet's load, not one replica's
 * view), and the deploy tasks each replica saw start, so `drain --wait` through any replica waits
 * for a deploy made through another.
 */
import { randomBytes } from 'node:crypto';
import type { OpenTasks, TaskChange } from '../pool/open-tasks.js';
import type { NodeLoad } from '../pool/upstream-node.js';
import type { StoreConnection } from './store-connection.js';

/** Load counts older than this are another replica's that stopped: not counted (rule 10). */
const LOADS_FRESH_SECONDS = 5;
const PUBLISH_LOADS = `INSERT INTO stickylb_loads (instance, node, load, contents, at)
  SELECT $1, n, l, c, now() FROM unnest($2::text[], $3::int[], $4::text[]) AS t(n, l, c)
  ON CONFLICT (instance, node) DO UPDATE SET load = EXCLUDED.load, contents = EXCLUDED.contents, at = now()`;
const OTHERS_LOADS = `SELECT node, sum(load)::int AS load, string_agg(contents, ',') AS contents FROM stickylb_loads
  WHERE instance <> $1 AND at > now() - make_interval(secs => ${LOADS_FRESH_SECONDS}) GROUP BY node`;
const FORGET_LOADS = `DELETE FROM stickylb_loads WHERE at < now() - interval '1 minute'`;

/** Open deploy tasks per node across the fleet; tasks unpolled for `$1` seconds are forgotten. */
const FORGET_TASKS = 'DELETE FROM stickylb_open_tasks WHERE last_seen < now() - make_interval(secs => $1)';
const COUNT_TASKS = 'SELECT node, count(*)::int AS n FROM stickylb_open_tasks GROUP BY node';
const OPEN_TASK = `INSERT INTO stickylb_open_tasks (task_id, node) VALUES ($1, $2)
  ON CONFLICT (task_id) DO UPDATE SET node = $2, last_seen = now()`;
const POLLED_TASK = 'UPDATE stickylb_open_tasks SET last_seen = now() WHERE task_id = $1';
const FINISHED_TASK = 'DELETE FROM stickylb_open_tasks WHERE task_id = $1';

/** One process's share of the fleet's traffic state. */
export class SharedFleet {
  readonly #conn: StoreConnection;
  readonly #tasks: OpenTasks;
  /** This process among the fleet's load counts (a replica name is not unique: two may share a host). */
  readonly #instance: string;

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
      const [loads, tasks] = await conn.withSchema(() =>
        conn.op(async (client) => {
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
          return [others.rows, open.rows] as const;
        }),
      );
      conn.markUp();
      this.#tasks.setShared(new Map(tasks.map((t) => [t.node, t.n])));
      return new Map(
        loads.map((r) => [
          r.node,
          { load: r.load, contents: [...new Set((r.contents ?? '').split(',').filter(Boolean))] },
        ]),
      );
    } catch (err) {
      conn.down(err);
      return undefined;
    }
  }

  /** Stops recording task changes. */
  close(): void {
    this.#tasks.onChange = undefined;
  }

  /** Records a deploy task's change for the fleet; a failure marks the store down, never throws. */
  async #recordTask(change: TaskChange): Promise<void> {
    const [sql, params] =
      change.kind === 'opened'
        ? [OPEN_TASK, [change.id, change.node]]
        : [change.finished ? FINISHED_TASK : POLLED_TASK, [change.id]];
    const conn = this.#conn;
    try {
      await conn.withSchema(() => conn.op((client) => client.query(sql, params)));
    } catch (err) {
      conn.down(err);
    }
  }
}
