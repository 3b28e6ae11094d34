/**
 * Content-aware placement (docs/design.md rules 10 and 11), pure. Connect runs each app in R or
 * Python processes on each node that serves it: a session on a node with no process of that app
 * pays a cold start and the memory of one more process. So a new session of a content goes to that
 * content's preferred node, the winner of weighted rendezvous hashing of the content over the
 * available nodes (every replica prefers the same node with nothing shared), unless taking it would
 * put that node above the bound of consistent hashing with bounded loads (Mirrokni, Thorup and
 * Zadimoghaddam 2016): its load + 1 must not exceed ceil(c x (total load + 1) x w / W), c the
 * balance factor, w its weight (scaled by its slow-start share) and W the sum of them. A node passed
 * over sends the session to the next node in that content's order.
 */
import { credentialHash, type HashWords, rendezvousScore } from './rendezvous.js';

/** A node as placement sees it. */
export interface PlacementCandidate {
  /** Rendezvous seed (an HMAC of the node's name under the affinity key). */
  readonly seed: HashWords;
  /** Configured weight. */
  readonly weight: number;
  /** Share of its weight it takes while a slow start lasts (1 otherwise). */
  readonly share: number;
  /** Sessions and requests on the node, fleet-wide where known. */
  readonly load: number;
  /** Connect reports a process of this content on the node (with `connect.apiKey`). */
  readonly warm?: boolean | undefined;
}

/** Where a session goes: its content's first choice, a later one running it, or a later one because of the bound. */
export interface Placement<N> {
  readonly node: N;
  readonly outcome: 'preferred' | 'warm' | 'spilled';
}

/** Content GUIDs as Connect makes them (a UUID). */
const CONTENT_PATH =
  /^\/content\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=[/?]|$)/;

/** The content GUID of a request path (`/content/{guid}/...`), lower case, or undefined. */
export function contentOf(path: string): string | undefined {
  if (path.length < 45 || !path.startsWith('/content/')) return undefined;
  return CONTENT_PATH.exec(path)?.[1]?.toLowerCase();
}

/** A content a request belongs to, and the path its pin is scoped to. */
export interface ContentRef {
  readonly guid: string;
  /** `/content/{guid}/`, or the content's vanity path. */
  readonly path: string;
}

/**
 * The content of a request path: `/content/{guid}/...`, or a vanity path of `vanity` (path prefix,
 * ending in `/`, to GUID; Connect's content list read with `connect.apiKey`), matched on the first
 * three path segments at most.
 */
export function contentRefOf(
  path: string,
  vanity: ReadonlyMap<string, string> | undefined,
): ContentRef | undefined {
  const guid = contentOf(path);
  // The pin is scoped to the path as the client wrote it: a browser matches a cookie's Path case
  // by case, so an upper-case GUID's pin must name it upper case (issue 32.10).
  if (guid !== undefined) return { guid, path: `${path.slice(0, 45)}/` };
  if (vanity === undefined || vanity.size === 0) return undefined;
  let end = 0;
  for (let depth = 0; depth < 3; depth++) {
    end = path.indexOf('/', end + 1);
    if (end < 0) return undefined;
    const prefix = path.slice(0, end + 1);
    const found = vanity.get(prefix);
    if (found !== undefined) return { guid: found, path: prefix };
  }
  return undefined;
}

/** The hash a content is placed by (mixed with each node's seed, which needs the affinity key). */
export function contentKey(content: string): HashWords {
  return credentialHash(`content\0${content}`);
}

/**
 * Whether a request is a page load (rule 11): `Sec-Fetch-Mode: navigate`, or `Sec-Fetch-Dest`
 * `document` or `iframe`; without Sec-Fetch headers (older clients), an `Accept` naming text/html.
 */
export function isNavigation(
  fetchMode: string | undefined,
  fetchDest: string | undefined,
  accept: string | undefined,
): boolean {
  if (fetchMode !== undefined || fetchDest !== undefined) {
    return fetchMode === 'navigate' || fetchDest === 'document' || fetchDest === 'iframe';
  }
  return accept?.includes('text/html') === true;
}

/** The bound's cap for a node of effective weight `w` out of `totalWeight`. */
function cap(balanceFactor: number, totalLoad: number, w: number, totalWeight: number): number {
  return Math.ceil((balanceFactor * (totalLoad + 1) * w) / totalWeight);
}

/**
 * Places a new session of the content hashed to `key` on one of `candidates` (the available
 * nodes); undefined when there is none. Among the nodes under their cap, one that already runs a
 * process of the content (`warm`) comes first, in the content's order; else the first under its
 * cap. Some node is always under its cap: the caps add up to at least c x (total load + 1), more
 * than the loads do. The outcome says why the node was chosen: `preferred` (the content's first
 * node), `warm` (a later node running the content while the first was under its bound) or `spilled`
 * (the first node was over its bound).
 */
export function placeContent<N extends PlacementCandidate>(
  candidates: readonly N[],
  key: HashWords,
  balanceFactor: number,
): Placement<N> | undefined {
  if (candidates.length === 0) return undefined;
  let totalLoad = 0;
  let totalWeight = 0;
  for (const n of candidates) {
    totalLoad += n.load;
    totalWeight += n.weight * n.share;
  }
  const order = candidates
    .map((node) => ({ node, score: rendezvousScore(key, node.seed, node.weight) }))
    .sort((a, b) => b.score - a.score);
  const first = order[0]!.node;
  // No weight anywhere (every node at weight 0): the content's first node.
  if (totalWeight <= 0) return { node: first, outcome: 'preferred' };
  const underItsCap = (node: N) => {
    const w = node.weight * node.share;
    return w > 0 && node.load + 1 <= cap(balanceFactor, totalLoad, w, totalWeight);
  };
  const firstUnder = underItsCap(first);
  let underCap: N | undefined;
  for (const { node } of order) {
    if (!underItsCap(node)) continue;
    if (node.warm === true)
      return { node, outcome: node === first ? 'preferred' : firstUnder ? 'warm' : 'spilled' };
    underCap ??= node;
  }
  // Never undefined (see above); the first node keeps a session should arithmetic say otherwise.
  const node = underCap ?? first;
  return { node, outcome: node === first ? 'preferred' : 'spilled' };
}
