/**
 * Time as the owners of timers see it, injected so that a unit test drives it (test/helpers
 * manual-clock.ts) instead of waiting on the wall clock. `systemClock` is node's.
 */

/** A pending timer: `refresh` restarts it with its delay; `unref` lets the process exit before it fires. */
export interface Timer {
  refresh(): unknown;
  unref(): unknown;
}

/** Timers and the time they run on. */
export interface Clock {
  /** Calls `fn(arg)` once after `ms` (a static function and its argument: no closure per call). */
  setTimeout<T>(fn: (arg: T) => void, ms: number, arg: T): Timer;
  clearTimeout(timer: Timer): void;
  /** Milliseconds, monotonic. */
  now(): number;
}

/** node's timers and `performance.now()`. */
export const systemClock: Clock = {
  setTimeout: (fn, ms, arg) => setTimeout(fn, ms, arg),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  now: () => performance.now(),
};
