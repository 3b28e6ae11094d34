/**
 * A node's traffic through this process, with one owner: requests and handshakes in flight, open
 * WebSockets and the content sessions they carry. Nothing else assigns these counts; the data plane
 * takes a lease when work begins on the node and ends it when the work is over. A lease's end is
 * idempotent, so a release guard in each caller is no longer needed, and no count goes below zero.
 */

/** Work begun on a node; `end()` gives it back, once (later calls do nothing). */
export interface TrafficLease {
  end(): void;
}

/** The counts a lease gives back to (shared by a NodeTraffic and its leases alone). */
interface Counts {
  inFlight: number;
  websockets: number;
  readonly sessions: Map<string, number>;
}

const REQUEST = 0;
const TUNNEL = 1;

class Lease implements TrafficLease {
  #counts: Counts | undefined;
  readonly #kind: typeof REQUEST | typeof TUNNEL;
  readonly #content: string | undefined;

  constructor(counts: Counts, kind: typeof REQUEST | typeof TUNNEL, content: string | undefined) {
    this.#counts = counts;
    this.#kind = kind;
    this.#content = content;
  }

  end(): void {
    const counts = this.#counts;
    if (counts === undefined) return;
    this.#counts = undefined;
    if (this.#kind === REQUEST) {
      counts.inFlight = Math.max(counts.inFlight - 1, 0);
      return;
    }
    counts.websockets = Math.max(counts.websockets - 1, 0);
    const content = this.#content;
    if (content === undefined) return;
    const left = (counts.sessions.get(content) ?? 1) - 1;
    if (left > 0) counts.sessions.set(content, left);
    else counts.sessions.delete(content);
  }
}

/** The traffic of one node; see the file comment. */
export class NodeTraffic {
  readonly #counts: Counts = { inFlight: 0, websockets: 0, sessions: new Map() };

  /** Requests (and WebSocket handshakes) being proxied to the node right now. */
  get inFlight(): number {
    return this.#counts.inFlight;
  }

  /** Open WebSocket tunnels to the node. */
  get websockets(): number {
    return this.#counts.websockets;
  }

  /** Open sessions (WebSockets) per content GUID; a content leaves with its last one. */
  get contentSessions(): ReadonlyMap<string, number> {
    return this.#counts.sessions;
  }

  /** A request or a handshake begins on the node. */
  request(): TrafficLease {
    this.#counts.inFlight++;
    return new Lease(this.#counts, REQUEST, undefined);
  }

  /** A WebSocket tunnel opens on the node, a session of `content` when it belongs to one. */
  tunnel(content: string | undefined): TrafficLease {
    const counts = this.#counts;
    counts.websockets++;
    if (content !== undefined) counts.sessions.set(content, (counts.sessions.get(content) ?? 0) + 1);
    return new Lease(counts, TUNNEL, content);
  }
}
