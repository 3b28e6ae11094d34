/**
 * `stickylb_placements_total{outcome}`: how sessions were placed (rules 1, 10, 11). Plain numbers on
 * the request path (a pinned request of an app counts too), exported at scrape time; no content id
 * is ever a label (unbounded).
 */
import client, { type Registry } from 'prom-client';

/** Where a session went and why. */
export type PlacementOutcome = 'preferred' | 'warm' | 'spilled' | 'pinned' | 'leastLoad';

export const PLACEMENT_OUTCOMES: readonly PlacementOutcome[] = [
  'preferred',
  'warm',
  'spilled',
  'pinned',
  'leastLoad',
];

/** Placements by outcome since start. */
export class PlacementCounts {
  /** A new session of a content on its preferred node (rule 10). */
  preferred = 0;
  /** A new session of a content on a later node of its order that runs it, the preferred one under its bound. */
  warm = 0;
  /** A new session of a content on a later node of its order: the preferred one was at its bound. */
  spilled = 0;
  /** A content request that followed its content pin (rule 11). */
  pinned = 0;
  /** A new client placed on the least loaded node (rule 1: no content, or `placement.strategy: leastLoad`). */
  leastLoad = 0;

  /** Registers the counter on `registry`, read at scrape time. */
  register(registry: Registry): void {
    const counts = this;
    new client.Counter({
      name: 'stickylb_placements_total',
      help: 'Sessions placed: preferred (a content on its preferred node), warm (on a later node already running it, the preferred one under its bound), spilled (on a later node, the preferred one at its bound), pinned (a content request following its content pin), leastLoad (rule 1).',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const outcome of PLACEMENT_OUTCOMES) this.inc({ outcome }, counts[outcome]);
      },
    });
  }
}
