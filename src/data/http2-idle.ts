/**
 * When an HTTP/2 session is idle: no open stream for `idleMs` (`timeouts.clientIdle`). A session
 * holding a stream (a quiet WebSocket, a long poll) is never idle; its streams have their own
 * timeouts. One timer per session, armed at its start: a stream opening or closing only notes the
 * time (nothing per request but a clock read when the last stream closes), and a timer that fires
 * early re-arms for what is left.
 */
import type { Clock, Timer } from '../clock.js';

/** The idle watch of one session. */
export class SessionIdle {
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #onIdle: () => void;
  #timer: Timer | undefined;
  /** Open streams. */
  streams = 0;
  /** Since when no stream is open (clock ms); undefined while one is. */
  #idleSince: number | undefined;

  /** Starts watching (a session starts with no stream); `idleMs` 0 watches nothing. */
  constructor(clock: Clock, idleMs: number, onIdle: () => void) {
    this.#clock = clock;
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
    if (idleMs <= 0) return;
    this.#idleSince = clock.now();
    this.#arm(idleMs);
  }

  /** A stream opened. */
  opened(): void {
    this.streams++;
    this.#idleSince = undefined;
  }

  /** A stream closed. */
  closed(): void {
    if (--this.streams === 0 && this.#timer !== undefined) this.#idleSince = this.#clock.now();
  }

  /** The session closed: the watch ends. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(SessionIdle.#fire, ms, this);
    this.#timer.unref();
  }

  static #fire(watch: SessionIdle): void {
    const since = watch.#idleSince;
    const idleFor = since === undefined ? 0 : watch.#clock.now() - since;
    if (since !== undefined && idleFor >= watch.#idleMs) {
      watch.#timer = undefined;
      watch.#onIdle();
      return;
    }
    watch.#arm(watch.#idleMs - idleFor);
  }
}
