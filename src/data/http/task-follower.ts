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
  /** The node the current 404 is being skipped for: asked next once this answer is read. */
  #askNext: UpstreamNode | undefined;
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

  /** The answer being read is skipped (another node is asked once it is read). */
  get skipping(): boolean {
    return this.#askNext !== undefined;
  }

  /**
   * An answer's head from `node`: false when it is a 404 to skip; true to relay it, re-pinning the
   * client when another node had the task.
   */
  head(status: number, node: UpstreamNode): boolean {
    if (this.#lookup && !this.#lookAfterTask(status, node)) return false;
    if (status >= 200 && status < 300) this.#tap = new BodyTap();
    return true;
  }

  /** A chunk of the relayed answer. */
  data(chunk: Buffer): void {
    this.#tap?.push(chunk);
  }

  /**
   * The answer from `node` is complete: the next node to ask when it was skipped; else its task is
   * reported and undefined returned.
   */
  complete(node: UpstreamNode): UpstreamNode | undefined {
    const next = this.#askNext;
    if (next !== undefined) {
      this.#askNext = undefined;
      return next;
    }
    const tap = this.#tap;
    if (tap === undefined) return undefined;
    this.#tap = undefined;
    const body = tap.json();
    if (this.#watch === 'deploy') {
      const id = startedTask(body);
      if (id !== undefined) this.#ctx.tasks.opened(node.name, id);
      return undefined;
    }
    const id = polledTask(this.#path);
    if (id !== undefined) this.#ctx.tasks.polled(id, isFinished(body));
    return undefined;
  }

  #lookAfterTask(status: number, node: UpstreamNode): boolean {
    const metrics = this.#ctx.metrics;
    if (status === 404) {
      const next = this.#router.taskCandidate(this.#route, node);
      // One lookup (every other node asked) is charged once, at its first 404.
      if (next !== undefined && this.#taskFrom === undefined && !this.#ctx.taskLookups.take()) {
        metrics.taskLookups.inc({ result: 'refused' });
        return true;
      }
      if (next !== undefined) {
        this.#taskFrom ??= node;
        this.#askNext = next;
        return false;
      }
      if (this.#taskFrom !== undefined) metrics.taskLookups.inc({ result: 'not_found' });
      return true;
    }
    if (this.#taskFrom !== undefined) {
      this.#router.taskFound(this.#route, node, this.#taskFrom);
      metrics.taskLookups.inc({ result: 'found' });
    }
    return true;
  }
}
