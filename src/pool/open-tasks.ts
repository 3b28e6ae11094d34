/**
 * Deploy tasks open on each node (issue 24). Connect runs a deploy (an R package install can take
 * minutes) in the memory of the node that took it: stopping that node fails the deploy. The data
 * plane reports what it sees through `TaskReports`: the `task_id` of a deploy's answer opens a
 * task on the node that answered; a poll through the balancer that reads it `finished` closes it.
 * A task nobody polls for `connect.taskTimeout` is forgotten (a client that gave up). With a
 * shared store the fleet's open tasks count too (`shared`), so a deploy made through one replica
 * holds `drain --wait` through any other.
 */

/** Where the data plane reports deploy tasks (the tracker itself, or a worker's relay to it). */
export interface TaskReports {
  /** A deploy answered by node `node` started task `id`. */
  opened(node: string, id: string): void;
  /** A poll through the balancer read task `id`: finished, or still running. */
  polled(id: string, finished: boolean): void;
}

/** A change to pass on to the shared store. */
export type TaskChange =
  | { readonly kind: 'opened'; readonly id: string; readonly node: string }
  | { readonly kind: 'polled'; readonly id: string; readonly finished: boolean };

/** Most tasks remembered at once: a flood of fake deploy answers cannot grow memory without end. */
const MAX_TASKS = 10_000;

/** The open deploy tasks of this replica (and, with a shared store, the fleet's counts). */
export class OpenTasks implements TaskReports {
  readonly #tasks = new Map<string, { readonly node: string; seen: number }>();
  readonly #now: () => number;
  #timeoutMs: number;
  /** Open tasks per node as the shared store last read them. */
  #shared: ReadonlyMap<string, number> = new Map();
  /** Called with every change this replica sees (the shared store records it). */
  onChange: ((change: TaskChange) => void) | undefined;

  constructor(timeoutMs: number, now: () => number = Date.now) {
    this.#timeoutMs = timeoutMs;
    this.#now = now;
  }

  opened(node: string, id: string): void {
    this.#tasks.delete(id);
    if (this.#tasks.size >= MAX_TASKS) this.#prune();
    if (this.#tasks.size >= MAX_TASKS) {
      const oldest = this.#tasks.keys().next().value;
      if (oldest !== undefined) this.#tasks.delete(oldest);
    }
    this.#tasks.set(id, { node, seen: this.#now() });
    this.onChange?.({ kind: 'opened', id, node });
  }

  polled(id: string, finished: boolean): void {
    const task = this.#tasks.get(id);
    if (task !== undefined) {
      if (finished) this.#tasks.delete(id);
      else task.seen = this.#now();
    }
    // Another replica may hold the task: the store is told either way.
    this.onChange?.({ kind: 'polled', id, finished });
  }

  /** Open tasks on `node`: this replica's, or the fleet's when the shared store knows more. */
  count(node: string): number {
    this.#prune();
    let mine = 0;
    for (const task of this.#tasks.values()) if (task.node === node) mine++;
    return Math.max(mine, this.#shared.get(node) ?? 0);
  }

  /** The fleet's open tasks per node, from the shared store. */
  setShared(counts: ReadonlyMap<string, number>): void {
    this.#shared = counts;
  }

  /** How long a task may go without a poll (`connect.taskTimeout`). */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  set timeoutMs(ms: number) {
    this.#timeoutMs = ms;
  }

  #prune(): void {
    const oldest = this.#now() - this.#timeoutMs;
    for (const [id, task] of this.#tasks) if (task.seen < oldest) this.#tasks.delete(id);
  }
}
