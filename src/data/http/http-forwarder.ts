/**
 * The request listeners of the proxy (HTTP/1.1's `request`, HTTP/2's `stream`): reads the forwarded
 * headers and the affinity cookie, applies the sticky decision, answers what no node needs to see
 * (400, 413, 503) and hands the rest to an `Exchange` (exchange.ts), which forwards it under the
 * attempt policy. Both protocols meet in `#serve`, with the request as a `RequestHead` and its answer
 * as a `Reply`.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Answers } from '../answers.js';
import { Exchange } from '../exchange/exchange.js';
import type { ExchangeContext } from '../exchange/exchange-context.js';
import { BadRequestError, type ForwardedRequest, forwardRequestHeaders } from '../forwarded-headers.js';
import type { StreamHandler } from '../http2-server.js';
import { type Reply, respondHttp2, writeReplyHead } from '../reply.js';
import { Http2Request, type RequestHead } from '../request-head.js';
import { recordFinished } from '../request-record.js';
import type { Runtime } from '../runtime.js';
import { ResponseRelay } from './response-relay.js';

/** Forwards plain HTTP requests. */
export class HttpForwarder {
  readonly #ctx: ExchangeContext;
  readonly #answers: Answers;
  readonly #runtime: () => Runtime;

  /** `runtime` returns the current runtime; each request keeps the one it started with. */
  constructor(ctx: ExchangeContext, answers: Answers, runtime: () => Runtime) {
    this.#ctx = ctx;
    this.#answers = answers;
    this.#runtime = runtime;
  }

  /** The `request` listener for the proxy server (HTTP/1.x). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.#ctx.lifecycle.closing) res.shouldKeepAlive = false;
    if (req.httpVersionMajor !== 1) {
      // HTTP/0.9 (`GET /path` with no version): no headers, no Host; refused like HAProxy does.
      const retryAfter = this.#runtime().settings.routing.retryAfterSeconds;
      this.#answers.http(req, res, 'HTTP_VERSION_NOT_SUPPORTED', retryAfter, true);
      return;
    }
    this.#serve(req, res);
  };

  /**
   * The listener for an HTTP/2 request stream (node:http2's core API; extended CONNECT streams go to
   * the WebSocket proxy). `Expect` is handled as node:http handles it over HTTP/1.1.
   */
  readonly handleStream: StreamHandler = (stream, headers, rawHeaders, peer) => {
    const req = new Http2Request(stream, headers, rawHeaders, peer);
    const expect = headers.expect;
    if (expect !== undefined) {
      if (expect.toLowerCase() !== '100-continue') {
        respondHttp2(stream, 417, ['content-length', '0']);
        stream.end();
        this.#unforwarded(req, 417);
        return;
      }
      if (this.#declaredTooLarge(req, stream)) return;
      stream.additionalHeaders({ ':status': 100 });
    }
    this.#serve(req, stream);
  };

  /**
   * Finishes an answer made before the request had forwarded headers or ids (an unmet `Expect`,
   * `OPTIONS *`): through the one finisher, counted with no node (no ids: no span, no access line).
   */
  #unforwarded(req: RequestHead, status: number): void {
    const done = {
      kind: 'http',
      method: req.method,
      target: req.url,
      fwd: undefined,
      route: undefined,
    } as const;
    recordFinished(this.#ctx, { ...done, node: undefined, status, bytesOut: 0, bytesIn: 0 }, false);
  }

  /** Both protocols: refuses what no node should see, routes the rest and starts its exchange. */
  #serve(req: RequestHead, reply: Reply): void {
    const runtime = this.#runtime();
    const retryAfter = runtime.settings.routing.retryAfterSeconds;
    if (req.url === '*' && req.method === 'OPTIONS') {
      // About the server as a whole: answered as Go's net/http (Connect) answers it.
      writeReplyHead(req, reply, 200, ['Content-Length', '0'], false);
      reply.end();
      this.#unforwarded(req, 200);
      return;
    }
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(req, runtime, false);
    } catch (err) {
      this.#ctx.logger.debug({ err, url: req.url }, 'unforwardable request');
      this.#answers.http(req, reply, err instanceof BadRequestError ? err.code : 'BAD_REQUEST', retryAfter);
      return;
    }
    const maxBody = runtime.settings.http.maxBodySize;
    if (maxBody > 0 && fwd.contentLength > maxBody) {
      this.#answers.http(req, reply, 'BODY_TOO_LARGE', retryAfter, true, undefined, fwd);
      return;
    }
    const route = runtime.router.route(fwd, req.rawHeaders);
    if (route === undefined) {
      this.#answers.http(req, reply, 'NO_AVAILABLE_NODE', retryAfter, false, undefined, fwd);
      return;
    }
    // Rule 13: a content's page load (a GET navigation with no body) tells how it fares on its node.
    if (route.content !== undefined && fwd.navigation && req.method === 'GET' && !fwd.hasBody)
      route.watched = true;
    new Exchange(this.#ctx, runtime, req, new ResponseRelay(req, reply), fwd, route).start();
  }

  /**
   * The `checkContinue` listener (`Expect: 100-continue`): a body the declared length already makes
   * too large gets its 413 at once, never a 100 that invites the client to send it.
   */
  readonly handleExpectContinue = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.#declaredTooLarge(req, res)) return;
    res.writeContinue();
    this.handle(req, res);
  };

  /** Answers 413 when `req`'s declared length is over `limits.maxBodySize`. */
  #declaredTooLarge(req: RequestHead, reply: Reply): boolean {
    const maxBody = this.#runtime().settings.http.maxBodySize;
    const declared = Number(req.headers['content-length'] ?? -1);
    if (maxBody > 0 && declared > maxBody) {
      this.#answers.http(req, reply, 'BODY_TOO_LARGE', 0, true);
      return true;
    }
    return false;
  }

  /**
   * The `connect` listener: stickylb is a gateway, not a forward proxy. Without this listener
   * node:http closes the connection with no answer.
   */
  readonly refuseConnect = (req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', ignore);
    this.#answers.socket(req, socket, 'METHOD_NOT_SUPPORTED', 0);
  };
}

function ignore(): void {}
