/**
 * Choosing a node for a client without a pin: the least loaded (in-flight requests plus open
 * sockets, per unit of effective weight), ties broken by smooth weighted round-robin (nginx's
 * algorithm), so a quiet cluster still splits new clients by weight. A node in its slow start counts
 * with its effective weight (HAProxy's `slowstart` under `leastconn`): an empty node back from down
 * takes a client, then looks as loaded as its small weight makes it, never every new client at once.
 */
import type { UpstreamNode } from './upstream-node.js';

/** Picks one of `candidates` at `now`, or undefined when there are none. Mutates round-robin state only. */
export function selectLeastLoaded(
  candidates: readonly UpstreamNode[],
  now: number,
): UpstreamNode | undefined {
  if (candidates.length <= 1) return candidates[0];
  let min = Number.POSITIVE_INFINITY;
  for (const node of candidates) min = Math.min(min, node.load(now));
  let total = 0;
  let best: UpstreamNode | undefined;
  for (const node of candidates) {
    if (node.load(now) !== min) continue;
    const weight = node.effectiveWeight(now);
    node.currentWeight += weight;
    total += weight;
    if (best === undefined || node.currentWeight > best.currentWeight) best = node;
  }
  if (best) best.currentWeight -= total;
  return best;
}
