/**
 * A node's traffic through this process, with one owner: requests and handshakes in flight, open
 * WebSockets and the content sessions they carry, and sessions placed here whose WebSocket has not
 * opened yet (a page answered, its Shiny socket a moment later: issue 32.7). Nothing else assigns these counts; the data plane
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

/** How long a placed session counts while its WebSocket has not opened (a browser's page load). */
export const PLACED_GRACE_MS = 10_000;
/** Placed sessions remembered at most per node (a flood of page loads cannot grow memory). */
const MAX_PLACED = 50_000;

/** A session placed on the node: counted until `until`, or until a WebSocket of its content opens. */
interface Placed {
  readonly content: string;
  readonly until: number;
  live: boolean;
}

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
  /** Placed sessions in the order they were placed (so by `until`), and the live ones per content. */
  #placed: Placed[] = [];
  /** Index of the oldest entry of `#placed` still kept (a queue without O(n) shifts). */
  #head = 0;
  readonly #placedBy = new Map<string, Placed[]>();
  #placedLive = 0;

  /**
   * Sessions of a content placed on the node whose WebSocket has not opened, at `now` (epoch ms):
   * part of the node's load for placement, so sessions arriving together respect the bound.
   */
  placedSessions(now: number): number {
    this.#expire(now);
    return this.#placedLive;
  }

  /** A new session of `content` was placed on the node at `now` (its page load). */
  placed(content: string, now: number): void {
    this.#expire(now);
    if (this.#placed.length - this.#head >= MAX_PLACED) this.#expire(Number.NEGATIVE_INFINITY, 1);
    const entry: Placed = { content, until: now + PLACED_GRACE_MS, live: true };
    this.#placed.push(entry);
    let list = this.#placedBy.get(content);
    if (list === undefined) {
      list = [];
      this.#placedBy.set(content, list);
    }
    list.push(entry);
    this.#placedLive++;
  }

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

  /** A session of `content` placed here went elsewhere after all (its page load failed over). */
  unplaced(content: string): void {
    this.#consume(content);
  }

  /**
   * A WebSocket tunnel opens on the node, a session of `content` when it belongs to one (the
   * session placed for it, if any, now counts as this WebSocket).
   */
  tunnel(content: string | undefined): TrafficLease {
    if (content !== undefined) this.#consume(content);
    const counts = this.#counts;
    counts.websockets++;
    if (content !== undefined) counts.sessions.set(content, (counts.sessions.get(content) ?? 0) + 1);
    return new Lease(counts, TUNNEL, content);
  }

  /** The oldest live placed session of `content` opened its WebSocket. */
  #consume(content: string): void {
    const list = this.#placedBy.get(content);
    const entry = list?.shift();
    if (entry === undefined) return;
    if (list!.length === 0) this.#placedBy.delete(content);
    entry.live = false;
    this.#placedLive--;
  }

  /** Forgets placed sessions whose grace ended by `now` (at least `atLeast` of the oldest). */
  #expire(now: number, atLeast = 0): void {
    const queue = this.#placed;
    let gone = 0;
    while (this.#head < queue.length && (queue[this.#head]!.until <= now || gone < atLeast)) {
      const entry = queue[this.#head++]!;
      gone++;
      if (!entry.live) continue;
      entry.live = false;
      this.#placedLive--;
      const list = this.#placedBy.get(entry.content)!;
      list.shift();
      if (list.length === 0) this.#placedBy.delete(entry.content);
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#placed = queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
