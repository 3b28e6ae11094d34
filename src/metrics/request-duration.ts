/** The scrape-time duration histogram over every node's RequestStats (a prom-client compatible metric). */
import type { MetricValueWithName } from 'prom-client';
import { DURATION_BUCKETS, type RequestStats } from '../pool/request-stats.js';

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
