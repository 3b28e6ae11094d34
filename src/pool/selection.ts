/**
 * Choosing a node for a client without a pin: the least loaded (in-flight requests plus open
 * sockets, per unit of weight), ties broken by smooth weighted round-robin (nginx's algorithm), so a
 * quiet cluster still splits new clients by weight.
 */
import type { UpstreamNode } from './upstream-node.js';

/** Picks one of `candidates`, or undefined when there are none. Mutates round-robin state only. */
export function selectLeastLoaded(candidates: readonly UpstreamNode[]): UpstreamNode | undefined {
  if (candidates.length <= 1) return candidates[0];
  let min = Number.POSITIVE_INFINITY;
  for (const node of candidates) min = Math.min(min, node.load());
  let total = 0;
  let best: UpstreamNode | undefined;
  for (const node of candidates) {
    if (node.load() !== min) continue;
    node.currentWeight += node.weight;
    total += node.weight;
    if (best === undefined || node.currentWeight > best.currentWeight) best = node;
  }
  if (best) best.currentWeight -= total;
  return best;
}
