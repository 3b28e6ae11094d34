/**
 * The client's side of a WebSocket handshake, over HTTP/1.1 (an `Upgrade: websocket` request, a raw
 * socket after node:http lets go of it) or over HTTP/2 (RFC 8441: an extended CONNECT stream with
 * `:protocol websocket`). Either way the node sees an ordinary HTTP/1.1 upgrade; what differs is
 * how the client is answered:
 * - HTTP/1.1: the node's `101` (or its refusal) is written to the socket as it came, hop-by-hop
 *   headers aside, and the socket becomes the client side of the tunnel;
 * - HTTP/2: a `200` on the stream carries the node's end-to-end headers (no `Upgrade`, `Connection`
 *   or `Sec-WebSocket-Accept`, which belong to the HTTP/1.1 handshake), and the stream becomes the
 *   client side of the tunnel: DATA frames carry the WebSocket frames unchanged both ways.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { AnswerCode, Answers } from '../answers.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { pushNodeHeaders } from '../hop-by-hop.js';
import { rawHead, respondHttp2 } from '../reply.js';
import type { RequestHead } from '../request-head.js';
import type { Route } from '../router.js';

/** How a handshake answers its client; see the file comment. */
export interface HandshakeClient {
  /** The request as received (for answers and the forwarded headers). */
  readonly req: RequestHead;
  /** What the tunnel relays on the client's side: the socket or the HTTP/2 stream. */
  readonly duplex: Duplex;
  /** The method of the node's handshake. */
  readonly method: string;
  /** Headers the node's handshake needs beyond the forwarded ones (name, value, ...). */
  readonly upgradeHeaders: readonly string[];
  /** The status the client sees when the node accepts. */
  readonly acceptStatus: number;
  /** Relays the node's acceptance with `extra` headers (name, value, ...); false when the client is gone. */
  accept(res: IncomingMessage, extra: readonly string[]): boolean;
  /** Relays the node's refusal (status, headers, body) with `extra` headers, then closes. */
  refuse(res: IncomingMessage, extra: readonly string[]): void;
  /** Answers `code` itself (counted, and traced with `fwd`), and closes. */
  answer(answers: Answers, code: AnswerCode, retryAfter: number, route?: Route, fwd?: ForwardedRequest): void;
}

/** A handshake on an HTTP/1.1 connection: node:http has handed over the socket. */
export class Http1HandshakeClient implements HandshakeClient {
  readonly req: IncomingMessage;
  readonly duplex: Duplex;
  readonly method: string;
  readonly upgradeHeaders: readonly string[] = [];
  readonly acceptStatus = 101;

  constructor(req: IncomingMessage, socket: Duplex) {
    this.req = req;
    this.duplex = socket;
    this.method = req.method ?? 'GET';
  }

  accept(res: IncomingMessage, extra: readonly string[]): boolean {
    const headers = nodeHeaders(res.rawHeaders, true);
    headers.push(...extra);
    this.duplex.write(rawHead(101, res.statusMessage || 'Switching Protocols', headers, false));
    return true;
  }

  refuse(res: IncomingMessage, extra: readonly string[]): void {
    const headers = nodeHeaders(res.rawHeaders, false);
    headers.push(...extra);
    this.duplex.write(rawHead(res.statusCode ?? 502, res.statusMessage ?? '', headers, true));
    res.on('error', () => this.duplex.destroy());
    res.pipe(this.duplex);
  }

  answer(
    answers: Answers,
    code: AnswerCode,
    retryAfter: number,
    route?: Route,
    fwd?: ForwardedRequest,
  ): void {
    answers.socket(this.req, this.duplex, code, retryAfter, route, fwd);
  }
}

/** A handshake on an HTTP/2 stream (RFC 8441 extended CONNECT). */
export class Http2HandshakeClient implements HandshakeClient {
  readonly req: RequestHead;
  readonly duplex: ServerHttp2Stream;
  readonly method = 'GET';
  readonly upgradeHeaders: readonly string[];
  readonly acceptStatus = 200;

  constructor(req: RequestHead, stream: ServerHttp2Stream) {
    this.req = req;
    this.duplex = stream;
    // The HTTP/1.1 handshake the node expects (RFC 6455 4.1); the key is ours, the accept not relayed.
    this.upgradeHeaders = [
      'Connection',
      'Upgrade',
      'Upgrade',
      'websocket',
      'Sec-WebSocket-Key',
      randomBytes(16).toString('base64'),
    ];
  }

  accept(res: IncomingMessage, extra: readonly string[]): boolean {
    return this.#respond(200, res.rawHeaders, extra);
  }

  refuse(res: IncomingMessage, extra: readonly string[]): void {
    const stream = this.duplex;
    if (!this.#respond(res.statusCode ?? 502, res.rawHeaders, extra)) {
      res.resume();
      return;
    }
    res.on('error', () => stream.destroy());
    res.pipe(stream);
  }

  answer(
    answers: Answers,
    code: AnswerCode,
    retryAfter: number,
    route?: Route,
    fwd?: ForwardedRequest,
  ): void {
    answers.stream(this.req, this.duplex, code, retryAfter, route, fwd);
  }

  /**
   * Sends the response head through the one HTTP/2 head builder (reply.ts `http2Head`: a field sent
   * once keeps its first value); false when the stream is gone or node:http2 refused the head (then
   * the stream is reset: a node's head never throws out of a listener).
   */
  #respond(status: number, raw: readonly string[], extra: readonly string[]): boolean {
    const stream = this.duplex;
    if (stream.destroyed || stream.closed || stream.headersSent) return false;
    const flat: string[] = [];
    const relayed = nodeHeaders(raw, false);
    for (let i = 0; i < relayed.length; i += 2) {
      // The accept key answers the HTTP/1.1 handshake stickylb made, not the client's.
      if (relayed[i]!.toLowerCase() !== 'sec-websocket-accept') flat.push(relayed[i]!, relayed[i + 1]!);
    }
    flat.push(...extra);
    try {
      respondHttp2(stream, status, flat);
      return true;
    } catch {
      // A value node:http2 will not send (invalid characters): the client sees the stream reset.
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return false;
    }
  }
}

/** The node's headers relayed to the client (hop-by-hop.ts); `upgrade` for a 101 over HTTP/1.1. */
function nodeHeaders(raw: readonly string[], upgrade: boolean): string[] {
  const out: string[] = [];
  pushNodeHeaders(out, raw, upgrade);
  return out;
}
