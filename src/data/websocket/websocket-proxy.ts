/**
 * WebSocket upgrades: the `upgrade` listener of the proxy. A handshake goes to the client's node by
 * the same sticky decision as HTTP (handshake.ts carries it out); after the 101 the sockets become a
 * tunnel (tunnels.ts). This file owns both registries, so a lost node's handshakes and tunnels are
 * cut together.
 *
 * A handshake in progress is bounded on every side:
 * - the client's socket is read while the node has not answered, so its FIN or reset is seen at once
 *   and the node's side torn down (bytes a client sends early are kept, within a small cap);
 * - connecting has `timeouts.connect`, answering the handshake `timeouts.websocketHandshake`;
 * - a node lost (down, maintenance, removed) aborts its pending handshakes, which are redispatched
 *   to another node and re-pin the client, as nothing was sent to the client yet.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { BadRequestError, type ForwardedRequest, forwardRequestHeaders } from '../forwarded-headers.js';
import type { StreamHandler } from '../http2-server.js';
import { Http2Request } from '../request-head.js';
import type { Runtime } from '../runtime.js';
import { isWebSocketUpgrade, serveAsPlainHttp } from '../upgrade-fallback.js';
import { Handshake, type HandshakeContext, type HandshakeHost } from './handshake.js';
import { type HandshakeClient, Http1HandshakeClient, Http2HandshakeClient } from './handshake-client.js';
import { Tunnels } from './tunnels.js';

/** What the proxy and its handshakes use, whatever the runtime settings. */
export type WebSocketContext = HandshakeContext;

/** Proxies upgrade requests; owns the pending handshakes and the open tunnels. */
export class WebSocketProxy implements HandshakeHost {
  readonly #ctx: WebSocketContext;
  readonly #runtime: () => Runtime;
  readonly #tunnels = new Tunnels();
  /** Handshakes waiting on each node, so losing the node (or shutting down) aborts them. */
  readonly #pending = new Map<UpstreamNode, Set<Handshake>>();
  /** node:http's connection listener, for upgrades that are not WebSocket (upgrade-fallback.ts). */
  #plainHttp: ((socket: Duplex) => void) | undefined;

  constructor(ctx: WebSocketContext, runtime: () => Runtime) {
    this.#ctx = ctx;
    this.#runtime = runtime;
  }

  /** Sets where non-WebSocket upgrade requests go (the proxy server's own connection listener). */
  serveOtherUpgradesWith(connectionListener: (socket: Duplex) => void): void {
    this.#plainHttp = connectionListener;
  }

  /** The `upgrade` listener for the proxy server. */
  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#plainHttp !== undefined && !isWebSocketUpgrade(req)) {
      serveAsPlainHttp(this.#plainHttp, req, socket, head);
      return;
    }
    // Errors on either socket must never reach the process: a reset client is routine.
    socket.on('error', ignore);
    const runtime = this.#runtime();
    // A handshake pipelined behind a request still being answered: a 101 now would land inside that
    // response. Refused once it is complete, as HAProxy does (browsers never pipeline a handshake).
    const earlier = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (earlier && !earlier.writableFinished) {
      const refuse = () => this.#ctx.answers.socket(req, socket, 'BAD_REQUEST', 0);
      earlier.once('finish', refuse);
      earlier.once('close', () => {
        earlier.off('finish', refuse);
        if (!earlier.writableFinished) socket.destroy();
      });
      return;
    }
    this.#begin(new Http1HandshakeClient(req, socket), head, runtime);
  };

  /**
   * The listener for an HTTP/2 extended CONNECT stream (RFC 8441). `:protocol websocket` is a
   * WebSocket handshake like an HTTP/1.1 upgrade; any other CONNECT is refused (501).
   */
  readonly handleStream: StreamHandler = (stream, headers, rawHeaders, peer) => {
    // (The HTTP/2 server keeps every stream's errors from the process.)
    // A WebSocket handshake, GET in HTTP/1.1 terms, for `:path` at `:authority`.
    const req = new Http2Request(stream, headers, rawHeaders, peer, 'GET');
    const protocol = headers[':protocol'];
    if (typeof protocol !== 'string' || protocol.toLowerCase() !== 'websocket') {
      this.#ctx.answers.stream(req, stream, 'METHOD_NOT_SUPPORTED', 0);
      return;
    }
    this.#begin(new Http2HandshakeClient(req, stream), EMPTY, this.#runtime());
  };

  /** Routes a handshake and starts its first attempt (or answers why it cannot). */
  #begin(client: HandshakeClient, head: Buffer, runtime: Runtime): void {
    const retryAfter = runtime.settings.routing.retryAfterSeconds;
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(client.req, runtime, true);
    } catch (err) {
      const code = err instanceof BadRequestError ? err.code : 'BAD_REQUEST';
      client.answer(this.#ctx.answers, code, 0);
      return;
    }
    const route = runtime.router.route(fwd, client.req.rawHeaders);
    if (route === undefined) {
      client.answer(this.#ctx.answers, 'NO_AVAILABLE_NODE', retryAfter, undefined, fwd);
      return;
    }
    // Rule 13: a content's WebSocket handshake tells how it fares on its node.
    if (route.content !== undefined) route.watched = true;
    new Handshake(this, this.#ctx, runtime, client, head, fwd, route).start();
  }

  /** Cuts `node`'s tunnels without a close frame and aborts its pending handshakes; returns the tunnels cut. */
  cutNode(node: UpstreamNode): number {
    const pending = this.#pending.get(node);
    if (pending !== undefined) for (const h of [...pending]) h.nodeLost();
    return this.#tunnels.cut(node);
  }

  /** Cuts every tunnel and pending handshake (shutdown); returns the tunnels cut. */
  cutAll(): number {
    for (const set of [...this.#pending.values()]) for (const h of [...set]) h.destroy();
    return this.#tunnels.cutAll();
  }

  /** Handshake bookkeeping, for Handshake only. */
  track(node: UpstreamNode, handshake: Handshake, waiting: boolean): void {
    let set = this.#pending.get(node);
    if (waiting) {
      if (set === undefined) {
        set = new Set();
        this.#pending.set(node, set);
      }
      set.add(handshake);
    } else if (set !== undefined) {
      set.delete(handshake);
      if (set.size === 0) this.#pending.delete(node);
    }
  }

  /** Turns a completed handshake into a tunnel; `onClosed` hears its end. */
  openTunnel(
    client: Duplex,
    upstream: Duplex,
    node: UpstreamNode,
    idleTimeoutMs: number,
    onClosed: (() => void) | undefined,
    content: string | undefined,
  ): void {
    this.#tunnels.open(client, upstream, node, idleTimeoutMs, onClosed, content);
  }
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}
