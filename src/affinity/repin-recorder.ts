/**
 * Counts re-pins (stickylb_affinity_repins_total) on every one and logs them aggregated: one line per
 * (from, reason) per flush interval, so a failover of 10,000 clients is a handful of log lines.
 */
import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import type { RepinReason } from './sticky.js';

/** Aggregates re-pin events for the log; counts them in metrics at once. */
export class RepinRecorder {
  readonly #counter: Counter<'from' | 'reason'>;
  readonly #logger: Logger;
  readonly #pending = new Map<string, { from: string; reason: RepinReason; to: Map<string, number> }>();
  #timer: NodeJS.Timeout | undefined;
  readonly #flushMs: number;

  constructor(counter: Counter<'from' | 'reason'>, logger: Logger, flushMs = 5000) {
    this.#counter = counter;
    this.#logger = logger;
    this.#flushMs = flushMs;
  }

  /** A client pinned to `from` was moved to `to`. */
  record(from: string, to: string, reason: RepinReason): void {
    this.#counter.inc({ from, reason });
    const key = `${from}\0${reason}`;
    let entry = this.#pending.get(key);
    if (entry === undefined) {
      const first = this.#pending.size === 0;
      entry = { from, reason, to: new Map() };
      this.#pending.set(key, entry);
      if (first) {
        this.#timer = setTimeout(() => this.flush(), this.#flushMs);
        this.#timer.unref();
      }
    }
    entry.to.set(to, (entry.to.get(to) ?? 0) + 1);
  }

  /** Writes the pending aggregate lines now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const { from, reason, to } of this.#pending.values()) {
      let clients = 0;
      for (const n of to.values()) clients += n;
      this.#logger.info({ from, reason, clients, to: Object.fromEntries(to) }, 'clients re-pinned');
    }
    this.#pending.clear();
  }
}
