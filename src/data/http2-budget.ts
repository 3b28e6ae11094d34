/**
 * What one HTTP/2 client may cost a session before stickylb closes it. Frames that make the server
 * work without being requests (a stream reset before its answer, a PING, a SETTINGS) are counted per
 * session in fixed windows; passing a limit closes the session with GOAWAY `ENHANCE_YOUR_CALM`.
 * The limits are far above what browsers do (a page navigated away resets its pending streams, a
 * few dozen at most; Chrome pings a session every few seconds at most) and far below an attack:
 * the rapid-reset pattern (CVE-2023-44487) resets thousands of streams a second.
 */

/** The limits, each documented in the README's "HTTP/2" section. */
export const HTTP2_LIMITS = {
  /** Streams open at once on one session (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: 100,
  /** Streams a client may open beyond that limit (refused) before node:http2 closes the session. */
  maxRejectedStreams: 100,
  /** Invalid frames before node:http2 closes the session. */
  maxInvalidFrames: 1000,
  /** The counting window for the budgets below. */
  windowMs: 10_000,
  /** Streams the client resets before they were answered, per window. */
  resets: 200,
  /** PING frames from the client, per window. */
  pings: 100,
  /** SETTINGS frames from the client, per window. */
  settings: 100,
} as const;

/** What a session was closed for when a budget ran out. */
export type SessionAbuse = 'rapid_reset' | 'ping_flood' | 'settings_flood';

/** The budgeted kinds of frame. */
export type BudgetedFrame = 'resets' | 'pings' | 'settings';

const ABUSE: Record<BudgetedFrame, SessionAbuse> = {
  resets: 'rapid_reset',
  pings: 'ping_flood',
  settings: 'settings_flood',
};

/** One session's counts in the current window. */
export class SessionBudget {
  #windowStart: number;
  readonly #counts: Record<BudgetedFrame, number> = { resets: 0, pings: 0, settings: 0 };

  constructor(now: number) {
    this.#windowStart = now;
  }

  /** Counts one `frame` at `now`; returns the abuse when this one passes the window's limit. */
  count(frame: BudgetedFrame, now: number): SessionAbuse | undefined {
    if (now - this.#windowStart >= HTTP2_LIMITS.windowMs) {
      this.#windowStart = now;
      this.#counts.resets = 0;
      this.#counts.pings = 0;
      this.#counts.settings = 0;
    }
    const n = ++this.#counts[frame];
    return n === HTTP2_LIMITS[frame] + 1 ? ABUSE[frame] : undefined;
  }
}
