/**
 * Per-node request counters and duration histogram kept as plain numbers on the request path and
 * turned into Prometheus series only at scrape time. prom-client hashes label values on every
 * `inc`/`observe`, even through child handles; at tens of thousands of requests per second that
 * showed in profiles, so the request path only does an array increment here.
 */
import type { MetricValueWithName } from 'prom-client';

/** Upper bounds (seconds) of the duration histogram, 1 ms to 60 s. */
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Counts for one node. */
export class RequestStats {
  /** Responses by status code (index = code): an array increment, no hashing. */
  readonly byCode = new Float64Array(600);
  /** Non-cumulative bucket counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

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

type Sample = MetricValueWithName<string>;

/** A scrape-time histogram over the RequestStats of every node (a prom-client compatible metric). */
export class RequestDurationMetric {
  readonly name = 'stickylb_request_duration_seconds';
  readonly help = 'Time from request to the end of the response, by upstream node.';
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #source: () => Iterable<[string, RequestStats]>;

  constructor(source: () => Iterable<[string, RequestStats]>) {
    this.#source = source;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    const values: Sample[] = [];
    for (const [upstream, stats] of this.#source()) {
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += stats.buckets[i]!;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { upstream, le: DURATION_BUCKETS[i]! },
          value: cumulative,
        });
      }
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { upstream, le: '+Inf' },
        value: stats.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: { upstream }, value: stats.sum });
      values.push({ metricName: `${this.name}_count`, labels: { upstream }, value: stats.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}
