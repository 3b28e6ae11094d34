/**
 * Deploy tasks open on each node (issue 24). Connect runs a deploy (an R package install can take
 * minutes) in the memory of the node that took it: stopping that node fails the deploy. The data
 * plane reports what it sees through `TaskReports`: the `task_id` of a deploy's answer opens a
 * task on the node that answered; a poll through the balancer that reads it `finished` closes it.
 * A task nobody polls for `connect.taskTimeout` is forgotten (a client that gave up). With a
 * shared store the store's record is the truth while it answers (issue 32.6): a deploy made through
 * one replica holds `drain --wait` through any other, and a task another replica saw finish is
 * closed here too. Tasks this replica opened since the store was last read count on top of it (a
 * moment's over-count at most, never an under-count); while the store cannot be read, the larger of
 * this replica's count and the store's last one counts.
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
  readonly #tasks = new Map<string, { readonly node: string; readonly opened: number; seen: number }>();
  readonly #now: () => number;
  #timeoutMs: number;
  /** Open tasks per node as the shared store last read them. */
  #shared: ReadonlyMap<string, number> = new Map();
  /** When the store was last read with every change of this replica in it; undefined: not now. */
  #sharedAt: number | undefined;
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
    const now = this.#now();
    this.#tasks.set(id, { node, opened: now, seen: now });
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

  /** Open tasks on `node`; see the file comment. */
  count(node: string): number {
    this.#prune();
    const sharedAt = this.#sharedAt;
    let mine = 0;
    let since = 0;
    for (const task of this.#tasks.values()) {
      if (task.node !== node) continue;
      mine++;
      if (sharedAt !== undefined && task.opened >= sharedAt) since++;
    }
    const shared = this.#shared.get(node) ?? 0;
    return sharedAt === undefined ? Math.max(mine, shared) : shared + since;
  }

  /**
   * The fleet's open tasks per node, read from the shared store; `current`: every change this
   * replica saw had been written before the read, so the store is the truth.
   */
  setShared(counts: ReadonlyMap<string, number>, current = false, readAt = this.#now()): void {
    this.#shared = counts;
    this.#sharedAt = current ? readAt : undefined;
  }

  /** The store cannot be read (or has writes of this replica missing): counts fall back to the larger. */
  sharedStale(): void {
    this.#sharedAt = undefined;
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
