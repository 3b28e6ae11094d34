/**
 * Which nodes the workers still hold requests or WebSockets on, from one round of the primary's
 * question to every worker. The primary keeps a node that left DNS while any worker is busy on it.
 */
import type { NodeCounters } from './messages.js';

/**
 * The busy node names after a round in which `asked` workers were asked and `answers` came back.
 * When every worker answered, the answers alone decide; when one did not, it may still hold sockets,
 * so the names known busy before stay busy until a round in which every worker answers.
 */
export function busyNodes(
  previous: ReadonlySet<string>,
  asked: number,
  answers: readonly (readonly NodeCounters[])[],
): Set<string> {
  const busy = answers.length >= asked ? new Set<string>() : new Set(previous);
  for (const counters of answers) {
    for (const c of counters) if (c.inFlight > 0 || c.websockets > 0) busy.add(c.name);
  }
  return busy;
}
