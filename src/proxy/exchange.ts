/**
 * One proxied HTTP request, from the node chosen for it to the end of its response, over undici's
 * dispatcher API: the request body (the client's IncomingMessage) is streamed to the node, the
 * response is written to the client chunk by chunk with backpressure, nothing is buffered. The
 * `Exchange` object is itself the undici handler, so the hot path allocates no closures beyond the
 * client-abort listener.
 *
 * Retry rules (design.md, failure handling):
 * - nothing reached the node (undici never called `onConnect`) and the connection was refused:
 *   redispatch to another node, and the response re-pins the client to it;
 * - connect timeout: an idempotent request may go to another node once, the pin stays;
 * - the connection broke after the request went out, before any response byte: GET/HEAD/OPTIONS
 *   without a body is retried once elsewhere (RFC 9110 section 9.2.2), anything else gets 502;
 * - once response headers went to the client nothing is retried: the client connection is cut.
 *
 * With a per-node connection cap, a request that waits longer than `timeouts.queue` for a connection
 * gets 503 (like HAProxy's `timeout queue`); undici drops it before writing when its turn comes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError, codeForFailure, statusForFailure } from '../errors.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { sendError } from './error-response.js';
import type { ForwardedRequest } from './forwarded-headers.js';
import { connectionTokens, isResponseHopByHop, removeHeaders } from './hop-by-hop.js';
import type { ForwarderDeps } from './http-forwarder.js';
import type { Route } from './router.js';

/** One client request and its attempts upstream; the undici handler. */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly #deps: ForwarderDeps;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #fwd: ForwardedRequest;
  readonly #route: Route;
  readonly #started = performance.now();
  #node!: UpstreamNode;
  #abort: ((err?: Error) => void) | undefined;
  /** undici called onConnect: the request is being written to a connected socket. */
  #sent = false;
  #busy = false;
  #done = false;
  #clientGone = false;
  #redispatches = 0;
  #retried = false;
  #tried: Set<UpstreamNode> | undefined;
  #resume: (() => void) | undefined;
  /** Set while the request waits for a free connection of a capped pool. */
  #queueTimer: NodeJS.Timeout | undefined;
  #status = 0;
  #bytes = 0;
  /** Request body bytes written upstream, for `limits.maxBodySize` on bodies without Content-Length. */
  #bodyBytes = 0;

  constructor(
    deps: ForwarderDeps,
    req: IncomingMessage,
    res: ServerResponse,
    fwd: ForwardedRequest,
    route: Route,
  ) {
    this.#deps = deps;
    this.#req = req;
    this.#res = res;
    this.#fwd = fwd;
    this.#route = route;
  }

  start(): void {
    // `on`, not `once`: 'close' fires once anyway and `once` allocates a wrapper per request.
    this.#res.on('close', this.#onClientClose);
    this.#dispatch(this.#route.node);
  }

  #dispatch(node: UpstreamNode): void {
    this.#node = node;
    this.#sent = false;
    this.#busy = true;
    node.inFlight++;
    // A timer left from waiting on the previous node (a retry) must not answer for this one.
    this.#stopQueueTimer();
    const settings = this.#deps.settings;
    // Beyond the cap every connection of the node is busy (one request each): this one queues.
    if (settings.upstreamConnections > 0 && node.inFlight > settings.upstreamConnections) {
      this.#startQueueTimer(settings.queueTimeoutMs);
    }
    const req = this.#req;
    this.#deps.clients.get(node).dispatch(
      {
        path: this.#fwd.path,
        method: req.method ?? 'GET',
        headers: this.#fwd.headers,
        body: this.#fwd.hasBody ? req : null,
      },
      this,
    );
  }

  #release(): void {
    if (!this.#busy) return;
    this.#busy = false;
    this.#node.inFlight--;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#stopQueueTimer();
    this.#abort = abort;
    this.#sent = true;
    // The client left, or was answered (queue timeout), while the request waited: never send it.
    if (this.#clientGone || this.#done) abort();
  }

  #startQueueTimer(ms: number): void {
    if (ms > 0) this.#queueTimer = setTimeout(Exchange.#queueExpired, ms, this);
  }

  #stopQueueTimer(): void {
    if (this.#queueTimer === undefined) return;
    clearTimeout(this.#queueTimer);
    this.#queueTimer = undefined;
  }

  /** A static function and an argument, so that no closure is made per request. */
  static #queueExpired(ex: Exchange): void {
    ex.#queueTimer = undefined;
    if (ex.#done || ex.#sent) return;
    if (ex.#clientGone) {
      ex.#finish(499);
      return;
    }
    const deps = ex.#deps;
    deps.metrics.forNode(ex.#node).queueTimeouts.inc();
    deps.logger.debug({ upstream: ex.#node.name, method: ex.#req.method }, 'queue timeout');
    // An unread request body leaves the connection unusable: close it after the answer.
    const close = ex.#fwd.hasBody ? ['Connection', 'close'] : undefined;
    sendError(ex.#req, ex.#res, 503, 'QUEUE_TIMEOUT', deps.settings.retryAfterSeconds, close);
    ex.#finish(503);
  }

  /**
   * Counts the body as undici writes it: a chunked body over `limits.maxBodySize` gets 413 and the
   * upstream request is aborted. (A `data` listener would start the stream flowing before undici
   * reads it and lose bytes.)
   */
  onBodySent(chunk: unknown): void {
    const limit = this.#deps.settings.maxBodySize;
    if (limit === 0) return;
    // undici 7 passes the chunk itself (its typings still say a size).
    this.#bodyBytes += typeof chunk === 'number' ? chunk : (chunk as { length: number }).length;
    if (this.#bodyBytes <= limit || this.#done) return;
    sendError(this.#req, this.#res, 413, 'BODY_TOO_LARGE', 0, ['Connection', 'close']);
    this.#finish(413);
    this.#abort?.(new Error('request body too large'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx informational responses (100 Continue, 103 Early Hints) are handled by node:http itself.
    if (statusCode < 200) return true;
    // Already answered by the balancer itself (413): the node's answer has nowhere to go.
    if (this.#done) {
      this.#abort?.();
      return false;
    }
    const node = this.#node;
    this.#deps.pool.reportConnected(node);
    const headers: string[] = [];
    let connection: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (isResponseHopByHop(name)) {
        if (name.length === 10 && name.toLowerCase() === 'connection')
          connection = rawHeaders[i + 1]!.toString('latin1');
        continue;
      }
      headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    const named = connection === undefined ? undefined : connectionTokens(connection);
    if (named !== undefined) removeHeaders(headers, named);
    const cookieFor = this.#route.cookieFor;
    if (cookieFor !== undefined) {
      headers.push('Set-Cookie', this.#fwd.secure ? cookieFor.cookie.tls : cookieFor.cookie.plain);
    }
    this.#status = statusCode;
    this.#resume = resume;
    try {
      this.#res.writeHead(statusCode, statusText, headers);
    } catch (err) {
      // The node sent a header node:http will not write (invalid characters): a bad gateway.
      this.#deps.logger.warn({ err, upstream: node.name }, 'invalid response header from upstream');
      this.#abort?.(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#done) return false;
    this.#bytes += chunk.length;
    const ok = this.#res.write(chunk);
    // undici's resume is bound already: no closure per request unless backpressure happens.
    if (!ok && this.#resume !== undefined) this.#res.once('drain', this.#resume);
    return ok;
  }

  onComplete(): void {
    this.#release();
    if (this.#done) return;
    this.#res.end();
    this.#finish(this.#status);
  }

  onError(err: Error): void {
    this.#release();
    if (this.#done) return;
    const res = this.#res;
    const failure = classifyUpstreamError(err);
    const deps = this.#deps;
    const node = this.#node;
    if (this.#clientGone || failure === 'aborted') {
      this.#finish(499);
      return;
    }
    if (res.headersSent) {
      deps.logger.debug({ err, upstream: node.name }, 'upstream failed mid-response');
      res.destroy();
      this.#finish(this.#status);
      return;
    }
    if (!this.#sent && (failure === 'refused' || failure === 'connect-timeout')) {
      deps.metrics.forNode(node).connectErrors.inc();
      deps.pool.reportConnectFailure(node);
    }
    const next = this.#retryTarget(failure);
    if (next !== undefined) {
      deps.metrics.forNode(node).retries.inc();
      deps.logger.debug({ err, upstream: node.name, to: next.name, failure }, 'request sent to another node');
      this.#dispatch(next);
      return;
    }
    const status = failure === 'refused' && !this.#sent ? 503 : statusForFailure(failure);
    const code = status === 503 ? 'NO_AVAILABLE_NODE' : codeForFailure(failure);
    // A request undici refuses to send is the client's fault: no warning per bad request.
    deps.logger[failure === 'bad-request' ? 'debug' : 'warn'](
      { err, upstream: node.name, failure, method: this.#req.method },
      'upstream request failed',
    );
    sendError(this.#req, res, status, code, deps.settings.retryAfterSeconds);
    this.#finish(status);
  }

  /** The node to try next after `failure`, applying the retry rules; undefined to give up. */
  #retryTarget(failure: ReturnType<typeof classifyUpstreamError>): UpstreamNode | undefined {
    const deps = this.#deps;
    const failed = this.#node;
    const tried = this.#tried ?? new Set<UpstreamNode>();
    this.#tried = tried;
    tried.add(failed);
    if (!this.#sent && failure === 'refused') {
      if (this.#redispatches >= deps.settings.redispatchAttempts) return undefined;
      const next = deps.router.alternative(tried);
      if (next === undefined) return undefined;
      this.#redispatches++;
      deps.router.redispatched(this.#route, failed, next);
      return next;
    }
    const idempotent = this.#idempotent();
    const once = !this.#retried && idempotent;
    if (!once) return undefined;
    if ((!this.#sent && failure === 'connect-timeout') || (failure === 'reset' && !this.#fwd.hasBody)) {
      const next = deps.router.alternative(tried);
      if (next === undefined) return undefined;
      this.#retried = true;
      // The pin stays: a timeout or a reset is no proof the node lost its sessions. A client that
      // was being given a cookie gets the cookie of the node that actually served it.
      if (this.#route.cookieFor !== undefined) this.#route.cookieFor = next;
      this.#route.node = next;
      return next;
    }
    return undefined;
  }

  #idempotent(): boolean {
    const m = this.#req.method;
    return (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') && !this.#fwd.hasBody;
  }

  readonly #onClientClose = (): void => {
    if (this.#done) return;
    this.#clientGone = true;
    this.#abort?.();
  };

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopQueueTimer();
    const deps = this.#deps;
    const seconds = (performance.now() - this.#started) / 1000;
    deps.metrics.countResponse(this.#node, status, seconds);
    if (deps.settings.accessLog) {
      deps.logger.info(
        {
          method: this.#req.method,
          path: this.#req.url,
          status,
          upstream: this.#node.name,
          ms: Math.round(seconds * 1000),
          bytes: this.#bytes,
          pin: this.#route.cookieFor === undefined ? 'kept' : 'set',
        },
        'request',
      );
    }
  }
}
