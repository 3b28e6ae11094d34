/**
 * Which nodes the workers still hold requests or WebSockets on. Workers hold the connections, so
 * the primary asks them every second while upstreams come from DNS, and keeps a node that left DNS
 * (draining) until a round of answers shows it idle.
 */
import type { NodeCounters } from '../contract/messages.js';

/** How often the primary asks the workers which nodes still carry requests or sockets. */
const POLL_MS = 1000;

/** The primary's view of busy nodes, kept by polling the workers. */
export class BusyNodes {
  #busy = new Set<string>();
  #polledAt = 0;
  /** When DNS discovery first asked about a name still leaving. */
  readonly #askedAt = new Map<string, number>();
  #polling = false;
  readonly #timer: NodeJS.Timeout;

  /**
   * Polls with `ask` (every worker's counters, and how many workers were asked) while `active()`
   * (upstreams come from DNS) holds.
   */
  constructor(ask: () => Promise<{ asked: number; answers: NodeCounters[][] }>, active: () => boolean) {
    this.#timer = setInterval(async () => {
      if (this.#polling || !active()) return;
      this.#polling = true;
      try {
        const startedAt = Date.now();
        const { asked, answers } = await ask();
        this.#busy = busyNodes(this.#busy, asked, answers);
        this.#polledAt = startedAt;
      } finally {
        this.#polling = false;
      }
    }, POLL_MS);
    this.#timer.unref();
  }

  /**
   * True when `name` carries nothing, by a poll that began after DNS first asked about it: an older
   * answer may predate a socket opened since.
   */
  isIdle(name: string): boolean {
    const since = this.#askedAt.get(name) ?? Date.now();
    this.#askedAt.set(name, since);
    const idle = this.#polledAt > since && !this.#busy.has(name);
    if (idle) this.#askedAt.delete(name);
    return idle;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The busy node names after a round in which `asked` workers were asked and `answers` came back.
 * When every worker answered, the answers alone decide; when one did not, it may still hold sockets,
 * so the names known busy before stay busy until a round in which every worker answers.
 */
export function busyNodes(
  previous: ReadonlySet<string>,
  asked: number,
  answers: readonly (readonly NodeCounters[])[],
): Set<string> {
  const busy = answers.length >= asked ? new Set<string>() : new Set(previous);
  for (const counters of answers) {
    for (const c of counters) if (c.inFlight > 0 || c.websockets > 0) busy.add(c.name);
  }
  return busy;
}
