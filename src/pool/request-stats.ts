/**
 * Per-node request counters and duration histogram, kept as plain numbers on the request path and
 * turned into Prometheus series only at scrape time (metrics/request-duration.ts). prom-client hashes label values on every
 * `inc`/`observe`, even through child handles; at tens of thousands of requests per second that
 * showed in profiles, so the request path only does an array increment here.
 */
/** Upper bounds (seconds) of the duration histogram, 1 ms to 60 s. */
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Counts for one node (plain numbers: the request path never touches a prom-client label). */
export class RequestStats {
  /** Responses by status code (index = code): an array increment, no hashing. */
  readonly byCode = new Float64Array(600);
  /** Non-cumulative bucket counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  /** Requests sent to another node after this one failed them (redispatch or idempotent retry). */
  retries = 0;
  /** Connections to the node that failed (refused, unreachable, timed out). */
  connectErrors = 0;
  /** Requests answered 503 after waiting `timeouts.queue` for a connection. */
  queueTimeouts = 0;
  /** Requests whose body stopped arriving for `timeouts.clientBody` (answered 408). */
  bodyTimeouts = 0;
  /** Responses cut because the client took none of them for `timeouts.clientSend`. */
  sendTimeouts = 0;
  /** WebSocket upgrades completed. */
  upgrades = 0;

  /** Records one response. */
  record(status: number, seconds: number): void {
    if (status >= 100 && status < 600) this.byCode[status]!++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}
