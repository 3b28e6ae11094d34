/**
 * The `request` listener of the proxy: reads the forwarded headers and the affinity cookie, applies
 * the sticky decision, answers what no node needs to see (400, 413, 503) and hands the rest to an
 * `Exchange` (exchange.ts), which forwards it under the attempt policy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Answers } from '../answers.js';
import { BadRequestError, type ForwardedRequest, forwardRequestHeaders } from '../forwarded-headers.js';
import type { Runtime } from '../runtime.js';
import { Exchange, type ExchangeContext } from './exchange.js';

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

  /** The `request` listener for the proxy server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const runtime = this.#runtime();
    if (this.#ctx.lifecycle.closing) res.shouldKeepAlive = false;
    const retryAfter = runtime.settings.routing.retryAfterSeconds;
    if (req.httpVersionMajor !== 1 && req.httpVersionMajor !== 2) {
      // HTTP/0.9 (`GET /path` with no version): no headers, no Host; refused like HAProxy does.
      this.#answers.http(req, res, 'HTTP_VERSION_NOT_SUPPORTED', retryAfter, true);
      return;
    }
    if (req.url === '*' && req.method === 'OPTIONS') {
      // About the server as a whole: answered as Go's net/http (Connect) answers it.
      res.writeHead(200, ['Content-Length', '0']).end();
      this.#ctx.metrics.countResponse(undefined, 200, 0);
      return;
    }
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(req, runtime, false);
    } catch (err) {
      this.#ctx.logger.debug({ err, url: req.url }, 'unforwardable request');
      this.#answers.http(req, res, err instanceof BadRequestError ? err.code : 'BAD_REQUEST', retryAfter);
      return;
    }
    const maxBody = runtime.settings.http.maxBodySize;
    if (maxBody > 0 && fwd.contentLength > maxBody) {
      this.#answers.http(req, res, 'BODY_TOO_LARGE', retryAfter, true, undefined, fwd);
      return;
    }
    const route = runtime.router.route(fwd, req.rawHeaders);
    if (route === undefined) {
      this.#answers.http(req, res, 'NO_AVAILABLE_NODE', retryAfter, false, undefined, fwd);
      return;
    }
    new Exchange(this.#ctx, runtime, req, res, fwd, route).start();
  };

  /**
   * The `checkContinue` listener (`Expect: 100-continue`): a body the declared length already makes
   * too large gets its 413 at once, never a 100 that invites the client to send it.
   */
  readonly handleExpectContinue = (req: IncomingMessage, res: ServerResponse): void => {
    const runtime = this.#runtime();
    const maxBody = runtime.settings.http.maxBodySize;
    const declared = Number(req.headers['content-length'] ?? -1);
    if (maxBody > 0 && declared > maxBody) {
      this.#answers.http(req, res, 'BODY_TOO_LARGE', 0, true);
      return;
    }
    res.writeContinue();
    this.handle(req, res);
  };

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
