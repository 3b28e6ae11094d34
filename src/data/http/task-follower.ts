/**
 * The Connect task piece of an exchange, made only for a deploy or a task poll (an ordinary request
 * never builds one):
 * - rule 9's lookup: a task poll its node answers 404 is asked of the other nodes in turn (within
 *   the replica's lookup budget), and the client re-pinned to the node that has the task;
 * - safe to stop (issue 24): a deploy's answer opens its task on the node, a poll's answer says
 *   whether it is still open.
 */
import type { Metrics } from '../../metrics/metrics.js';
import type { TaskReports } from '../../pool/open-tasks.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import type { Route, Router } from '../router.js';
import { BodyTap, isFinished, polledTask, startedTask, type TaskWatch } from './deploy-tasks.js';
import type { TaskLookupBudget } from './task-lookup.js';

/** What a follower reports to. */
export interface TaskContext {
  readonly metrics: Metrics;
  /** Rule 9's lookups left to this replica. */
  readonly taskLookups: TaskLookupBudget;
  readonly tasks: TaskReports;
}

/** Follows one deploy or task poll through its attempts. */
export class TaskFollower {
  readonly #ctx: TaskContext;
  readonly #router: Router;
  readonly #route: Route;
  readonly #path: string;
  /** A task poll that may be looked up on other nodes (rule 9). */
  readonly #lookup: boolean;
  readonly #watch: TaskWatch;
  /** The node that first answered 404 for the task poll. */
  #taskFrom: UpstreamNode | undefined;
  /** A copy of a 2xx answer's body as it streams by. */
  #tap: BodyTap | undefined;

  constructor(
    ctx: TaskContext,
    router: Router,
    route: Route,
    path: string,
    lookup: boolean,
    watch: TaskWatch,
  ) {
    this.#ctx = ctx;
    this.#router = router;
    this.#route = route;
    this.#path = path;
    this.#lookup = lookup;
    this.#watch = watch;
  }

  /**
   * An answer's head from `node`: the node to ask next when it is a 404 to skip (the exchange drops
   * its body, then sends the poll there); undefined to relay it, re-pinning the client when another
   * node had the task.
   */
  head(status: number, node: UpstreamNode): UpstreamNode | undefined {
    if (this.#lookup) {
      const next = this.#lookAfterTask(status, node);
      if (next !== undefined) return next;
    }
    if (status >= 200 && status < 300) this.#tap = new BodyTap();
    return undefined;
  }

  /** A chunk of the relayed answer. */
  data(chunk: Buffer): void {
    this.#tap?.push(chunk);
  }

  /** The relayed answer from `node` is complete: its task is reported. */
  complete(node: UpstreamNode): void {
    const tap = this.#tap;
    if (tap === undefined) return;
    this.#tap = undefined;
    const body = tap.json();
    if (this.#watch === 'deploy') {
      const id = startedTask(body);
      if (id !== undefined) this.#ctx.tasks.opened(node.name, id);
      return;
    }
    const id = polledTask(this.#path);
    if (id !== undefined) this.#ctx.tasks.polled(id, isFinished(body));
  }

  /** Rule 9 for an answer of `node`: the node to ask next for a 404 to skip, else undefined. */
  #lookAfterTask(status: number, node: UpstreamNode): UpstreamNode | undefined {
    const metrics = this.#ctx.metrics;
    if (status === 404) {
      const next = this.#router.taskCandidate(this.#route, node);
      // One lookup (every other node asked) is charged once, at its first 404.
      if (next !== undefined && this.#taskFrom === undefined && !this.#ctx.taskLookups.take()) {
        metrics.taskLookups.inc({ result: 'refused' });
        return undefined;
      }
      if (next !== undefined) {
        this.#taskFrom ??= node;
        return next;
      }
      if (this.#taskFrom !== undefined) metrics.taskLookups.inc({ result: 'not_found' });
      return undefined;
    }
    if (this.#taskFrom !== undefined) {
      this.#router.taskFound(this.#route, node, this.#taskFrom);
      metrics.taskLookups.inc({ result: 'found' });
    }
    return undefined;
  }
}
