/**
 * Rule 9's deploy task lookup, bounded (issue 22.5). A poll of `/__api__/v1/tasks/{id}` (or the
 * older `/__api__/tasks/{id}`) that its node answers 404 is asked of the other nodes: one request
 * can cost every node a request. So the lookup runs only for ids shaped like Connect's (its task
 * ids are 16 letters and digits; 12-32 accepted) and only while a per-replica budget allows;
 * beyond it the node's 404 is relayed as it is and counted as `refused`. A real deploy meets a 404
 * only after its node was lost, a few polls at most; the budget is for floods.
 */

/** Lookups that may start in a burst. */
export const TASK_LOOKUP_BURST = 50;
/** Lookups per second the budget refills at. */
export const TASK_LOOKUP_RATE = 10;

const TASK_PATH = /^\/__api__\/(?:v1\/)?tasks\/([A-Za-z0-9]{12,32})(?:\?|$)/;

/** Whether `path` polls a deploy task whose id looks like Connect's. */
export function isTaskPoll(path: string): boolean {
  return path.startsWith('/__api__/') && TASK_PATH.test(path);
}

/** A token bucket of lookups for one replica; `now` in milliseconds (injectable for tests). */
export class TaskLookupBudget {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(
    burst = TASK_LOOKUP_BURST,
    perSecond = TASK_LOOKUP_RATE,
    now: () => number = performance.now.bind(performance),
  ) {
    this.#burst = burst;
    this.#perMs = perSecond / 1000;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes one lookup from the budget; false when it is spent. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
