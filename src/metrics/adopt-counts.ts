/**
 * `stickylb_affinity_adopted_total{kind}`: requests routed by the outgoing balancer's cookie
 * (rule 14), by that balancer's kind. When it stops growing the old cookies are gone and
 * `affinity.adopt` can be removed. Plain numbers on the request path, exported at scrape time.
 */
import client, { type Registry } from 'prom-client';
import { ADOPT_KINDS, type AdoptKind } from '../affinity/adopt.js';

export class AdoptCounts {
  readonly #byKind = new Map<AdoptKind, number>(ADOPT_KINDS.map((k) => [k, 0]));

  /** A request went to the node its old cookie of `kind` named. */
  count(kind: AdoptKind): void {
    this.#byKind.set(kind, (this.#byKind.get(kind) ?? 0) + 1);
  }

  /** Registers the counter on `registry`, read at scrape time. */
  register(registry: Registry): void {
    const byKind = this.#byKind;
    new client.Counter({
      name: 'stickylb_affinity_adopted_total',
      help: "Requests with no stickylb pin sent to the node the outgoing balancer's cookie named (affinity.adopt), by that balancer's kind; stickylb's own pin set on the answer.",
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [kind, n] of byKind) this.inc({ kind }, n);
      },
    });
  }
}
