/**
 * The three timers of an exchange, made only when one is needed (most requests need none), on an
 * injected clock:
 * - queue: a request waiting longer than `timeouts.queue` for a connection of a capped node;
 * - body: a request body that stops arriving for `timeouts.clientBody` (refreshed by every chunk);
 * - send: a client that takes nothing of the response for `timeouts.clientSend` (refreshed on
 *   each stall).
 */
import type { Clock, Timer } from '../../clock.js';

/** What the timers call back. */
export interface TimedExchange {
  /** `timeouts.queue` passed with no connection. */
  queueExpired(): void;
  /** `timeouts.clientBody` passed since the last body chunk: true to wait one more period. */
  bodyIdle(): boolean;
  /** `timeouts.clientSend` passed since the response last stalled. */
  sendExpired(): void;
}

/** An exchange's timers. */
export class ExchangeTimers {
  readonly #owner: TimedExchange;
  readonly #clock: Clock;
  #queue: Timer | undefined;
  #body: Timer | undefined;
  #send: Timer | undefined;

  constructor(owner: TimedExchange, clock: Clock) {
    this.#owner = owner;
    this.#clock = clock;
  }

  /** Starts the queue timer (`ms` 0: none). */
  queue(ms: number): void {
    this.stopQueue();
    if (ms > 0) this.#queue = this.#clock.setTimeout(ExchangeTimers.#queueFired, ms, this);
  }

  stopQueue(): void {
    if (this.#queue === undefined) return;
    this.#clock.clearTimeout(this.#queue);
    this.#queue = undefined;
  }

  /** Starts the body timer (`ms` 0: none). */
  body(ms: number): void {
    if (this.#body !== undefined) this.#clock.clearTimeout(this.#body);
    this.#body = ms > 0 ? this.#clock.setTimeout(ExchangeTimers.#bodyFired, ms, this) : undefined;
  }

  /** A body chunk went out: the body timer starts over. */
  bodyProgress(): void {
    this.#body?.refresh();
  }

  /** The response stalled: the send timer starts, or starts over (`ms` 0: none). */
  stalled(ms: number): void {
    if (ms === 0) return;
    if (this.#send === undefined) this.#send = this.#clock.setTimeout(ExchangeTimers.#sendFired, ms, this);
    else this.#send.refresh();
  }

  /** The exchange finished: no timer fires any more. */
  clear(): void {
    this.stopQueue();
    for (const timer of [this.#body, this.#send]) if (timer !== undefined) this.#clock.clearTimeout(timer);
    this.#body = undefined;
    this.#send = undefined;
  }

  static #queueFired(timers: ExchangeTimers): void {
    timers.#queue = undefined;
    timers.#owner.queueExpired();
  }

  static #bodyFired(timers: ExchangeTimers): void {
    if (timers.#owner.bodyIdle()) timers.#body?.refresh();
    else timers.#body = undefined;
  }

  static #sendFired(timers: ExchangeTimers): void {
    timers.#send = undefined;
    timers.#owner.sendExpired();
  }
}
