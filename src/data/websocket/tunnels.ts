/**
 * Open WebSocket tunnels, by node: after the 101 the client's and the node's sockets are relayed both
 * ways, frames never parsed.
 *
 * Closing rules:
 * - whenever the node's side goes away (node killed, marked down, put in maintenance, removed,
 *   balancer shutting down) the client's socket is cut without a WebSocket close frame, so Shiny's
 *   reconnect logic runs; a clean 1000/1001 close would tell the Shiny client to stay closed;
 * - WebSocket has no half-open state: once either side ends its writing (TCP FIN), the end is passed
 *   on and both sockets are destroyed `HALF_CLOSE_GRACE_MS` later if they are still open, so a client
 *   that half-closes never leaves a socket (and a Shiny session) open on the node.
 */
import { constants, type Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../../clock.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';

/** Time the other side gets to finish its close after one side's FIN (HAProxy's `timeout client-fin`). */
export const HALF_CLOSE_GRACE_MS = 1000;

interface Tunnel {
  readonly client: Duplex;
  readonly upstream: Duplex;
  readonly node: UpstreamNode;
}

/** The open tunnels of a data plane. */
export class Tunnels {
  readonly #byNode = new Map<UpstreamNode, Set<Tunnel>>();
  /** What the half-close grace runs on. */
  readonly #clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /**
   * Relays `client` and `upstream` both ways and counts the tunnel on `node` until it closes;
   * `onClosed` (the session's span, when tracing) hears the end.
   */
  open(
    client: Duplex,
    upstream: Duplex,
    node: UpstreamNode,
    idleTimeoutMs: number,
    onClosed?: () => void,
    content?: string,
  ): void {
    const tunnel: Tunnel = { client, upstream, node };
    let set = this.#byNode.get(node);
    if (set === undefined) {
      set = new Set();
      this.#byNode.set(node, set);
    }
    set.add(tunnel);
    const lease = node.traffic.tunnel(content);
    (upstream as Socket).setNoDelay?.(true);
    (client as Socket).setNoDelay?.(true);
    if (idleTimeoutMs > 0) {
      const onIdle = () => cut(tunnel);
      for (const s of [client, upstream] as Socket[]) {
        s.setTimeout(idleTimeoutMs);
        s.on('timeout', onIdle);
      }
    }
    // Plain `on` rather than `once`: each fires once anyway, and `once` allocates a wrapper per
    // listener; with thousands of idle Shiny sockets every object per tunnel counts.
    let closed = false;
    const onClose = () => {
      if (closed) return;
      closed = true;
      lease.end();
      const current = this.#byNode.get(node);
      current?.delete(tunnel);
      if (current?.size === 0) this.#byNode.delete(node);
      cut(tunnel);
      onClosed?.();
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    relay(upstream, client, tunnel, this.#clock);
    relay(client, upstream, tunnel, this.#clock);
  }

  /** Cuts every tunnel to `node` without a close frame; returns how many. */
  cut(node: UpstreamNode): number {
    const set = this.#byNode.get(node);
    if (set === undefined) return 0;
    const n = set.size;
    for (const t of [...set]) cut(t);
    return n;
  }

  /** Cuts every tunnel (shutdown); returns how many. */
  cutAll(): number {
    let n = 0;
    for (const node of [...this.#byNode.keys()]) n += this.cut(node);
    return n;
  }
}

/**
 * Copies `from` to `to` with backpressure. The end of `from` ends `to`'s writing (whatever was
 * written still flushes) and starts the half-close grace. Leaner than `pipe()`, which keeps six
 * listeners and their closures per direction: with thousands of idle sockets that is most of
 * their memory.
 */
function relay(from: Duplex, to: Duplex, tunnel: Tunnel, clock: Clock): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => {
    to.end();
    clock.setTimeout(cut, HALF_CLOSE_GRACE_MS, tunnel).unref();
  });
}

/**
 * Destroys both sides: the client sees its TCP connection end, or its HTTP/2 stream reset
 * (RST_STREAM CANCEL), with no WebSocket close frame.
 */
function cut(tunnel: Tunnel): void {
  tunnel.upstream.destroy();
  const client = tunnel.client;
  if (isHttp2Stream(client)) {
    if (!client.closed) client.close(constants.NGHTTP2_CANCEL);
  } else {
    client.destroy();
  }
}

/** node:http2 does not export its stream class: its streams are told by their reset code. */
function isHttp2Stream(d: Duplex): d is Http2Stream {
  return 'rstCode' in d;
}
