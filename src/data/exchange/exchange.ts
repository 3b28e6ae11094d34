/**
 * One proxied request, from the node chosen for it to the end of its answer, over undici's
 * dispatcher API, whatever the client's protocol: an HTTP/1.1 request, an HTTP/2 stream, or a
 * WebSocket handshake over either (undici's `upgrade` dispatch: a refusal arrives as an ordinary
 * answer, an acceptance through `onUpgrade` with the node's socket). One admission to the node's
 * pool, one attempt loop around the pure attempt policy (attempts.ts), one definition of "connected"
 * evidence (the node's answer), and one finisher (request-record.ts). What differs by protocol is the
 * client's side (client-side.ts): a response relay, or a handshake that becomes a tunnel.
 *
 * The request body (HTTP/1.1's IncomingMessage, or the HTTP/2 stream) is streamed to the node, the
 * answer goes to the client through its side, nothing is buffered. The `Exchange` object is itself
 * the undici handler, so the hot path allocates no closures beyond the client-abort listener.
 * "Sent" here means undici called `onConnect`.
 *
 * With a per-node connection cap, a request that waits longer than `timeouts.queue` for a connection
 * gets 503 (like HAProxy's `timeout queue`); undici drops it before writing when its turn comes. A
 * handshake the node does not answer within `timeouts.websocketHandshake` gets 504 (undici's
 * `headersTimeout` for that dispatch).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client, Dispatcher } from 'undici';
import type { TrafficLease } from '../../pool/node-traffic.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { type AnswerCode, statusOf } from '../answers.js';
import type { AttemptFailure } from '../attempt-policy.js';
import { afterFailure, isIdempotent } from '../attempts.js';
import type { ClientSide } from '../client-side.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { taskWatchOf } from '../http/deploy-tasks.js';
import { TaskFollower } from '../http/task-follower.js';
import { bodyOf, type RequestHead } from '../request-head.js';
import { countAnswered, type FinishedRequest, recordFinished } from '../request-record.js';
import type { Route } from '../router.js';
import type { Runtime } from '../runtime.js';
import { classifyUpstreamError } from '../upstream-failure.js';
import type { ExchangeContext } from './exchange-context.js';
import { ExchangeTimers, type TimedExchange } from './exchange-timers.js';

/** One client request and its attempts upstream; the undici handler. */
export class Exchange implements Dispatcher.DispatchHandler, TimedExchange {
  readonly #ctx: ExchangeContext;
  readonly #runtime: Runtime;
  readonly #req: RequestHead;
  readonly #fwd: ForwardedRequest;
  readonly #route: Route;
  #node!: UpstreamNode;
  #abort: ((err?: Error) => void) | undefined;
  /** undici called onConnect: the request is being written to a connected socket. */
  #sent = false;
  /** The attempt's place in its node's in-flight count (node-traffic.ts). */
  #lease: TrafficLease | undefined;
  /** A handshake attempt's own connection (upstream-clients.ts `handshake`), ended after it. */
  #own: Client | undefined;
  #done = false;
  #clientGone = false;
  /** The queue, body and send timers, made when the first is needed (exchange-timers.ts). */
  #timers: ExchangeTimers | undefined;
  /** The client's side: the response on its way, or the handshake (client-side.ts). */
  readonly #out: ClientSide;
  /** Request body bytes written upstream, for `limits.maxBodySize` on bodies without Content-Length. */
  #bodyBytes = 0;
  /** A deploy or a task poll (task-follower.ts); undefined for every other request. */
  readonly #tasks: TaskFollower | undefined;
  /** The node answered with a head (not 1xx): what fails later is no evidence of its content. */
  #headed = false;
  /**
   * An answer being skipped: its body is read and dropped, then the request goes to this node (a
   * task poll's 404, rule 9; a content's page load or handshake answered 5xx, rule 13).
   */
  #skipTo: UpstreamNode | undefined;

  constructor(
    ctx: ExchangeContext,
    runtime: Runtime,
    req: RequestHead,
    out: ClientSide,
    fwd: ForwardedRequest,
    route: Route,
  ) {
    this.#ctx = ctx;
    this.#runtime = runtime;
    this.#req = req;
    this.#out = out;
    this.#fwd = fwd;
    this.#route = route;
    // A deploy or a task poll (one prefix check for every other request); a bodiless poll may be
    // looked up on other nodes (rule 9).
    const watch = taskWatchOf(req.method, fwd.path);
    if (watch !== undefined) {
      const lookup = watch === 'poll' && runtime.settings.routing.taskLookup && !fwd.hasBody;
      this.#tasks = new TaskFollower(ctx, runtime.router, route, fwd.path, lookup, watch);
    }
  }

  start(): void {
    this.#out.watch(this.#onClientClose);
    this.#dispatch(this.#route.node);
  }

  #dispatch(node: UpstreamNode): void {
    this.#node = node;
    this.#sent = false;
    this.#lease = node.traffic.request();
    // A timer left from waiting on the previous node (a retry) must not answer for this one.
    this.#timers?.stopQueue();
    const settings = this.#runtime.settings;
    const req = this.#req;
    const upgrade = this.#out.upgrade;
    let dispatcher: Dispatcher;
    if (upgrade === null) {
      dispatcher = this.#ctx.clients.get(node);
      // Beyond the cap every connection of the node is busy (one request each): this one queues.
      const cap = settings.upstream.connections;
      if (cap > 0 && node.inFlight > cap) this.#timed().queue(settings.http.queueTimeoutMs);
    } else {
      this.#own = this.#ctx.clients.handshake(node);
      dispatcher = this.#own;
    }
    dispatcher.dispatch(
      {
        path: this.#fwd.path,
        method: req.method ?? 'GET',
        headers: this.#fwd.headers,
        body: this.#fwd.hasBody ? bodyOf(req) : null,
        upgrade,
        // A handshake has its own time to be answered (timeouts.websocketHandshake).
        headersTimeout: upgrade === null ? null : settings.websocket.handshakeTimeoutMs,
      },
      this,
    );
  }

  #release(): void {
    this.#lease?.end();
    const own = this.#own;
    if (own !== undefined) {
      this.#own = undefined;
      this.#ctx.clients.endHandshake(this.#node, own);
    }
  }

  #timed(): ExchangeTimers {
    this.#timers ??= new ExchangeTimers(this, this.#ctx.clock);
    return this.#timers;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#timers?.stopQueue();
    this.#abort = abort;
    this.#sent = true;
    // The client left, or was answered (queue timeout), while the request waited: never send it.
    if (this.#clientGone || this.#done) {
      abort();
      return;
    }
    const bodyMs = this.#runtime.settings.http.clientBodyTimeoutMs;
    if (this.#fwd.hasBody && bodyMs > 0 && !this.#req.complete) this.#timed().body(bodyMs);
  }

  /**
   * The body was silent for timeouts.clientBody (for ExchangeTimers). A body waiting in our buffer
   * for the node to take it is the node's slowness, not the client's: only a client that sends
   * nothing is answered 408.
   */
  bodyIdle(): boolean {
    if (this.#done || this.#req.complete) return false;
    if (this.#req.readableLength > 0) return true;
    this.#node.stats.bodyTimeouts++;
    this.#ctx.logger.debug({ upstream: this.#node.name, method: this.#req.method }, 'request body timeout');
    this.#answer('CLIENT_BODY_TIMEOUT', true);
    // The 408 says Connection: close: the client's connection is unusable with its body half read.
    this.#abort?.(new Error('request body timeout'));
    return false;
  }

  /** No connection came within timeouts.queue (for ExchangeTimers). */
  queueExpired(): void {
    if (this.#done || this.#sent) return;
    if (this.#clientGone) {
      this.#finish(499);
      return;
    }
    this.#node.stats.queueTimeouts++;
    this.#ctx.logger.debug({ upstream: this.#node.name, method: this.#req.method }, 'queue timeout');
    // An unread request body leaves the connection unusable: close it after the answer.
    this.#answer('QUEUE_TIMEOUT', this.#fwd.hasBody);
  }

  /**
   * Counts the body as undici writes it: a chunked body over `limits.maxBodySize` gets 413 and the
   * upstream request is aborted. (A `data` listener would start the stream flowing before undici
   * reads it and lose bytes.)
   */
  onBodySent(chunk: unknown): void {
    this.#timers?.bodyProgress();
    const limit = this.#runtime.settings.http.maxBodySize;
    if (limit === 0) return;
    // undici 7 passes the chunk itself (its typings still say a size).
    this.#bodyBytes += typeof chunk === 'number' ? chunk : (chunk as { length: number }).length;
    if (this.#bodyBytes <= limit || this.#done) return;
    this.#answer('BODY_TOO_LARGE', true);
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
    this.#headed = true;
    this.#ctx.pool.reportConnected(node);
    const skipTo =
      (this.#route.watched ? this.#contentOutcome(statusCode, node) : undefined) ??
      this.#tasks?.head(statusCode, node);
    if (skipTo !== undefined) {
      this.#skipTo = skipTo;
      return true;
    }
    try {
      // A request that arrived before the stop signal is answered after it: its client must not
      // reuse the connection either (issue 24).
      const closing = this.#ctx.lifecycle.closing;
      this.#out.head(statusCode, rawHeaders, this.#route, this.#fwd, closing, statusText, resume);
    } catch (err) {
      // The node sent a header node:http will not write (invalid characters): a bad gateway.
      this.#ctx.logger.warn({ err, upstream: node.name }, 'invalid response header from upstream');
      this.#abort?.(err as Error);
      return false;
    }
    if (statusCode === 204 || statusCode === 304) {
      // No body, whatever the headers say (RFC 9110 6.4.1, 15.4.5: a 304 may carry the length of
      // the representation it stands for). undici checks that length against the empty body and
      // fails after the headers went out; the response is complete here, as HAProxy and nginx relay it.
      this.#out.end();
      this.#finish(statusCode);
    }
    return true;
  }

  /**
   * Reports a watched page load's or handshake's outcome (rule 13); for a 5xx, the content's next
   * node to retry it on instead of relaying it: once per request, before any byte reached the client.
   */
  #contentOutcome(statusCode: number, node: UpstreamNode): UpstreamNode | undefined {
    const route = this.#route;
    const content = route.content!;
    if (statusCode < 400) this.#ctx.pool.reportContentOutcome(node, content, true);
    if (statusCode < 500) return undefined;
    this.#ctx.pool.reportContentOutcome(node, content, false);
    if (route.retried || this.#out.headersSent || this.#tasks !== undefined) return undefined;
    const next = this.#runtime.router.replaceContent(route, node);
    if (next === undefined) return undefined;
    this.#ctx.logger.debug(
      { upstream: node.name, to: next.name, content, status: statusCode },
      "sent to the content's next node",
    );
    return next;
  }

  onData(chunk: Buffer): boolean {
    if (this.#done) return false;
    // The body of an answer being skipped for another node is read and dropped.
    if (this.#skipTo !== undefined) return true;
    this.#tasks?.data(chunk);
    if (this.#out.write(chunk)) return true;
    // A client that takes nothing for timeouts.clientSend would hold the node's connection for
    // good (issue 22.3).
    const ms = this.#runtime.settings.http.clientSendTimeoutMs;
    if (ms > 0) this.#timed().stalled(ms);
    return false;
  }

  /** The client took nothing for timeouts.clientSend (for ExchangeTimers). */
  sendExpired(): void {
    if (this.#done || !this.#out.blocked) return;
    this.#node.stats.sendTimeouts++;
    this.#ctx.logger.debug({ upstream: this.#node.name, method: this.#req.method }, 'client send timeout');
    this.#finish(this.#out.status);
    this.#abort?.(new Error('client send timeout'));
    this.#out.destroy();
  }

  onComplete(): void {
    this.#release();
    if (this.#done) return;
    if (this.#skipTo !== undefined) {
      this.#skip();
      return;
    }
    this.#tasks?.complete(this.#node);
    this.#out.end();
    this.#finish(this.#out.status);
  }

  onError(err: Error): void {
    this.#release();
    if (this.#done) return;
    if (this.#clientGone) {
      this.#finish(499);
      return;
    }
    if (this.#skipTo !== undefined) {
      this.#skip();
      return;
    }
    const failure = classifyUpstreamError(err);
    const node = this.#node;
    // Rule 13: a page load or handshake that got no head from the node is a failure of its content
    // there (a node lost is the node's failure, not its content's).
    if (this.#route.watched && !this.#headed && failure !== 'bad-request' && failure !== 'node-lost')
      this.#ctx.pool.reportContentOutcome(node, this.#route.content!, false);
    const idempotent = isIdempotent(this.#req.method, this.#fwd.hasBody);
    const progress = { sent: this.#sent, responded: this.#out.headersSent, idempotent };
    const next = afterFailure(this.#ctx.pool, this.#runtime, this.#route, node, progress, failure);
    const logger = this.#ctx.logger;
    switch (next.kind) {
      case 'drop':
        this.#finish(499);
        return;
      case 'cut':
        logger.debug({ err, upstream: node.name }, 'upstream failed mid-response');
        this.#out.cut();
        this.#finish(this.#out.status);
        return;
      case 'again':
        logger.debug(
          { err, upstream: node.name, to: next.node.name, failure },
          'request sent to another node',
        );
        this.#dispatch(next.node);
        return;
      case 'answer':
        this.#fail(err, failure, next.code);
    }
  }

  /** Sends the request on to the node chosen when its answer was skipped. */
  #skip(): void {
    const next = this.#skipTo!;
    this.#skipTo = undefined;
    this.#headed = false;
    this.#dispatch(next);
  }

  #fail(err: Error, failure: AttemptFailure, code: AnswerCode): void {
    // A request undici refuses to send is the client's fault: no warning per bad request.
    this.#ctx.logger[failure === 'bad-request' ? 'debug' : 'warn'](
      { err, upstream: this.#node.name, failure, method: this.#req.method, kind: this.#out.kind },
      'upstream request failed',
    );
    this.#answer(code);
  }

  /** Answers the client with one of the balancer's own answers and finishes. */
  #answer(code: AnswerCode, close = false): void {
    const retryAfter = this.#runtime.settings.routing.retryAfterSeconds;
    this.#out.answer(code, retryAfter, close || this.#ctx.lifecycle.closing, this.#fwd);
    this.#finish(statusOf(code));
  }

  /**
   * The node accepted a WebSocket upgrade and handed over its socket: the client is told, the tunnel
   * opens, and the handshake is counted now with the time the node took to accept; the session is
   * traced and logged whole at its close, with its length and bytes both ways.
   */
  onUpgrade(_statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#release();
    this.#timers?.clear();
    socket.on('error', ignore);
    const node = this.#node;
    this.#headed = true;
    this.#ctx.pool.reportConnected(node);
    if (this.#route.watched) this.#ctx.pool.reportContentOutcome(node, this.#route.content!, true);
    if (this.#done) {
      socket.destroy();
      return;
    }
    const opened = performance.now();
    const onClosed = () => {
      const { bytesRead, bytesWritten } = socket as Socket;
      const session = this.#finished(this.#out.status, bytesRead, bytesWritten, opened);
      recordFinished(this.#ctx, session, this.#accessLog);
    };
    const raw = (rawHeaders ?? []) as Buffer[];
    const status = this.#out.open(raw, socket, node, this.#route, this.#fwd, onClosed);
    if (status === 0) {
      socket.destroy();
      this.#finish(499);
      return;
    }
    this.#done = true;
    node.stats.upgrades++;
    countAnswered(this.#ctx, this.#finished(status, 0, 0, opened));
  }

  readonly #onClientClose = (): void => {
    // Ended by the response's last chunk: the client has it all; undici completes right after.
    if (this.#done || this.#out.ended) return;
    this.#clientGone = true;
    this.#abort?.();
  };

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#timers?.clear();
    recordFinished(this.#ctx, this.#finished(status, this.#out.bytes, 0), this.#accessLog);
  }

  get #accessLog(): boolean {
    return this.#runtime.settings.http.accessLog;
  }

  /** This request as a finished one (request-record.ts); `opened`: a WebSocket session's 101. */
  #finished(status: number, bytesOut: number, bytesIn: number, opened?: number): FinishedRequest {
    const req = this.#req;
    return {
      kind: this.#out.kind,
      method: req.method,
      target: req.url,
      fwd: this.#fwd,
      route: this.#route,
      node: this.#node,
      status,
      bytesOut,
      bytesIn,
      opened,
    };
  }
}

function ignore(): void {}
