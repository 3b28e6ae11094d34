/** A clock a test moves by hand (src/clock.ts): timers fire in order as `advance` passes them. */
import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  at: number;
  ms: number;
  fire: () => void;
  active: boolean;
}

export class ManualClock implements Clock {
  #now = 0;
  readonly #pending = new Set<Pending>();

  setTimeout<T>(fn: (arg: T) => void, ms: number, arg: T): Timer {
    const pending: Pending = { at: this.#now + ms, ms, fire: () => fn(arg), active: true };
    this.#pending.add(pending);
    return {
      refresh: () => {
        pending.at = this.#now + pending.ms;
        this.#pending.add(pending);
      },
      unref: () => {},
      [PENDING]: pending,
    } as Timer;
  }

  clearTimeout(timer: Timer): void {
    const pending = (timer as unknown as Record<symbol, Pending>)[PENDING];
    if (pending !== undefined) this.#pending.delete(pending);
  }

  now(): number {
    return this.#now;
  }

  /** Timers still to fire. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Moves time on by `ms`, firing each timer due on the way, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.#pending) if (p.at <= end && (next === undefined || p.at < next.at)) next = p;
      if (next === undefined) break;
      this.#pending.delete(next);
      this.#now = next.at;
      next.fire();
    }
    this.#now = end;
  }
}

const PENDING = Symbol('pending');
