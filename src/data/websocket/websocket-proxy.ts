/**
 * WebSocket upgrades: the `upgrade` listener of the proxy, and the HTTP/2 listener of extended
 * CONNECT streams (RFC 8441). A handshake is routed by the same sticky decision as HTTP and carried
 * to its node by the same exchange (exchange/exchange.ts), with a client side of its own
 * (upgrade-side.ts); after the node's 101 the client and the node are relayed as a tunnel
 * (tunnels.ts). This file owns the open tunnels and the handshakes not answered yet, so a lost
 * node's tunnels are cut (its pending handshakes fail with its connection pool and are
 * redispatched), and a shutdown cuts both.
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { contentRefOf } from '../../affinity/placement.js';
import type { NodeTable } from '../../pool/node-table.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import type { Answers } from '../answers.js';
import { Exchange } from '../exchange/exchange.js';
import type { ExchangeContext } from '../exchange/exchange-context.js';
import { BadRequestError, type ForwardedRequest, forwardRequestHeaders } from '../forwarded-headers.js';
import type { StreamHandler } from '../http2-server.js';
import { Http2Request, type RequestHead } from '../request-head.js';
import type { Runtime } from '../runtime.js';
import { isWebSocketUpgrade, serveAsPlainHttp } from '../upgrade-fallback.js';
import { Tunnels } from './tunnels.js';
import {
  Http1UpgradeSide,
  Http2UpgradeSide,
  type UpgradeRegistry,
  type UpgradeSide,
} from './upgrade-side.js';

/** What the proxy uses beyond an exchange's parts: the node table (for vanity paths) and the answers. */
export interface WebSocketContext extends ExchangeContext {
  readonly table: NodeTable;
  readonly answers: Answers;
}

/** Proxies upgrade requests; owns the pending handshakes and the open tunnels. */
export class WebSocketProxy implements UpgradeRegistry {
  readonly #ctx: WebSocketContext;
  readonly #runtime: () => Runtime;
  readonly tunnels: Tunnels;
  /** Handshakes the node has not answered yet, cut at shutdown. */
  readonly pending = new Set<UpgradeSide>();
  /** node:http's connection listener, for upgrades that are not WebSocket (upgrade-fallback.ts). */
  #plainHttp: ((socket: Duplex) => void) | undefined;

  constructor(ctx: WebSocketContext, runtime: () => Runtime) {
    this.#ctx = ctx;
    this.#runtime = runtime;
    this.tunnels = new Tunnels(ctx.clock);
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
    this.#begin(req, socket, head);
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
    this.#begin(req, stream, EMPTY);
  };

  /** Routes a handshake and starts its exchange (or answers why it cannot). */
  #begin(req: RequestHead, duplex: Duplex, head: Buffer): void {
    const runtime = this.#runtime();
    const answers = this.#ctx.answers;
    const http2 = req.stream !== undefined;
    const refuse = (code: Parameters<Answers['socket']>[2], fwd?: ForwardedRequest) => {
      const retryAfter = code === 'NO_AVAILABLE_NODE' ? runtime.settings.routing.retryAfterSeconds : 0;
      if (http2) answers.stream(req, req.stream!, code, retryAfter, undefined, fwd);
      else answers.socket(req, duplex, code, retryAfter, undefined, fwd);
    };
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(req, runtime, true);
    } catch (err) {
      refuse(err instanceof BadRequestError ? err.code : 'BAD_REQUEST');
      return;
    }
    // The HTTP/1.1 handshake the node expects (RFC 6455 4.1): over HTTP/2 the key is ours, and the
    // node's accept answers it, not the client (undici adds `Connection` and `Upgrade`).
    if (http2) fwd.headers.push('Sec-WebSocket-Key', randomBytes(16).toString('base64'));
    const route = runtime.router.route(fwd, req.rawHeaders);
    if (route === undefined) {
      refuse('NO_AVAILABLE_NODE', fwd);
      return;
    }
    // Rule 13: a content's WebSocket handshake tells how it fares on its node.
    if (route.content !== undefined) route.watched = true;
    const idle = runtime.settings.websocket.idleTimeoutMs;
    const content = contentRefOf(fwd.path, this.#ctx.table.vanity)?.guid;
    const side = http2
      ? new Http2UpgradeSide(req, duplex, head, this, idle, content)
      : new Http1UpgradeSide(req, duplex, head, this, idle, content);
    new Exchange(this.#ctx, runtime, req, side, fwd, route).start();
  }

  /** Cuts `node`'s tunnels without a close frame; returns how many. */
  cutNode(node: UpstreamNode): number {
    return this.tunnels.cut(node);
  }

  /** Cuts every tunnel and pending handshake (shutdown); returns the tunnels cut. */
  cutAll(): number {
    for (const side of [...this.pending]) side.destroy();
    return this.tunnels.cutAll();
  }
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}
