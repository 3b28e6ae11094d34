/**
 * One proxied HTTP request, from the node chosen for it to the end of its response, over undici's
 * dispatcher API: the request body (HTTP/1.1's IncomingMessage, or the HTTP/2 stream) is streamed to
 * the node, the response is written to the client chunk by chunk with backpressure (reply.ts),
 * nothing is buffered. The
 * `Exchange` object is itself the undici handler, so the hot path allocates no closures beyond the
 * client-abort listener.
 *
 * What happens when an attempt fails is decided by the attempt policy (attempt-policy.ts), shared
 * with WebSocket handshakes; "sent" here means undici called `onConnect`.
 *
 * With a per-node connection cap, a request that waits longer than `timeouts.queue` for a connection
 * gets 503 (like HAProxy's `timeout queue`); undici drops it before writing when its turn comes.
 */
import type { Dispatcher } from 'undici';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { TaskReports } from '../../pool/open-tasks.js';
import type { Pool } from '../../pool/pool.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { type AnswerCode, statusOf, writeAnswer } from '../answers.js';
import { isConnectFailure, nextStep } from '../attempt-policy.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { pushNodeHeaders } from '../hop-by-hop.js';
import type { Lifecycle } from '../lifecycle.js';
import { type Reply, writeReplyHead } from '../reply.js';
import { bodyOf, type RequestHead } from '../request-head.js';
import { pushSetCookies, type Route } from '../router.js';
import type { Runtime } from '../runtime.js';
import { traceIdOf } from '../trace-context.js';
import { recordSpan, type Tracing } from '../tracing/spans.js';
import { classifyUpstreamError } from '../upstream-failure.js';
import { BodyTap, isFinished, polledTask, startedTask, type TaskWatch, taskWatchOf } from './deploy-tasks.js';
import { isTaskPoll, type TaskLookupBudget } from './task-lookup.js';
import type { UpstreamClients } from './upstream-clients.js';

/** What every exchange uses, whatever the runtime settings: built once per data plane. */
export interface ExchangeContext {
  readonly pool: Pool;
  readonly clients: UpstreamClients;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tracing: Tracing;
  /** Rule 9's lookups left to this replica (task-lookup.ts). */
  readonly taskLookups: TaskLookupBudget;
  /** The stop under way, if any: heads written while closing say `Connection: close`. */
  readonly lifecycle: Lifecycle;
  /** Where deploy tasks seen starting and finishing are reported (safe to stop). */
  readonly tasks: TaskReports;
}

/** One client request and its attempts upstream; the undici handler. */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly #ctx: ExchangeContext;
  readonly #runtime: Runtime;
  readonly #req: RequestHead;
  readonly #res: Reply;
  readonly #fwd: ForwardedRequest;
  readonly #route: Route;
  #node!: UpstreamNode;
  #abort: ((err?: Error) => void) | undefined;
  /** undici called onConnect: the request is being written to a connected socket. */
  #sent = false;
  #busy = false;
  #done = false;
  #clientGone = false;
  #resume: (() => void) | undefined;
  /** Set while the request waits for a free connection of a capped pool. */
  #queueTimer: NodeJS.Timeout | undefined;
  /** Set while a request body streams to the node: refreshed by every chunk (timeouts.clientBody). */
  #bodyTimer: NodeJS.Timeout | undefined;
  /** Set once the client has failed to take the response (timeouts.clientSend); refreshed on each stall. */
  #sendTimer: NodeJS.Timeout | undefined;
  /** The response waits for 'drain': the client has not taken what was written. */
  #blocked = false;
  /** The 'drain' listener, made on the first stall only. */
  #drain: (() => void) | undefined;
  #status = 0;
  #bytes = 0;
  /** The response's Content-Length (-1: none): the chunk that completes it ends the response. */
  #bodyLength = -1;
  #ended = false;
  /** A deploy task poll (rule 9): a 404 from its node is asked of the other nodes. */
  readonly #taskPoll: boolean;
  /** The node the current 404 is being skipped for: asked next once this answer is read. */
  #askNext: UpstreamNode | undefined;
  /** The node that first answered 404 for the task poll. */
  #taskFrom: UpstreamNode | undefined;
  /** Request body bytes written upstream, for `limits.maxBodySize` on bodies without Content-Length. */
  #bodyBytes = 0;
  /** A deploy or a task poll: its answer tells which tasks are open (safe to stop). */
  readonly #watch: TaskWatch;
  /** A copy of that answer's body as it streams by. */
  #tap: BodyTap | undefined;

  constructor(
    ctx: ExchangeContext,
    runtime: Runtime,
    req: RequestHead,
    res: Reply,
    fwd: ForwardedRequest,
    route: Route,
  ) {
    this.#ctx = ctx;
    this.#runtime = runtime;
    this.#req = req;
    this.#res = res;
    this.#fwd = fwd;
    this.#route = route;
    this.#taskPoll =
      runtime.settings.routing.taskLookup && req.method === 'GET' && !fwd.hasBody && isTaskPoll(fwd.path);
    this.#watch = taskWatchOf(req.method, fwd.path);
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
    const settings = this.#runtime.settings.http;
    // Beyond the cap every connection of the node is busy (one request each): this one queues.
    if (settings.upstreamConnections > 0 && node.inFlight > settings.upstreamConnections) {
      this.#startQueueTimer(settings.queueTimeoutMs);
    }
    const req = this.#req;
    this.#ctx.clients.get(node).dispatch(
      {
        path: this.#fwd.path,
        method: req.method ?? 'GET',
        headers: this.#fwd.headers,
        body: this.#fwd.hasBody ? bodyOf(req) : null,
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
    if (this.#clientGone || this.#done) {
      abort();
      return;
    }
    const bodyMs = this.#runtime.settings.http.clientBodyTimeoutMs;
    if (this.#fwd.hasBody && bodyMs > 0 && !this.#req.complete) {
      clearTimeout(this.#bodyTimer);
      this.#bodyTimer = setTimeout(Exchange.#bodyIdle, bodyMs, this);
    }
  }

  /**
   * The body was silent for timeouts.clientBody. A body waiting in our buffer for the node to take
   * it is the node's slowness, not the client's: only a client that sends nothing is answered 408.
   */
  static #bodyIdle(ex: Exchange): void {
    if (ex.#done || ex.#req.complete) return;
    if (ex.#req.readableLength > 0) {
      ex.#bodyTimer?.refresh();
      return;
    }
    ex.#bodyTimer = undefined;
    ex.#node.stats.bodyTimeouts++;
    ex.#ctx.logger.debug({ upstream: ex.#node.name, method: ex.#req.method }, 'request body timeout');
    ex.#answer('CLIENT_BODY_TIMEOUT', true);
    // The 408 says Connection: close: the client's connection is unusable with its body half read.
    ex.#abort?.(new Error('request body timeout'));
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
    ex.#node.stats.queueTimeouts++;
    ex.#ctx.logger.debug({ upstream: ex.#node.name, method: ex.#req.method }, 'queue timeout');
    // An unread request body leaves the connection unusable: close it after the answer.
    ex.#answer('QUEUE_TIMEOUT', ex.#fwd.hasBody);
  }

  /**
   * Counts the body as undici writes it: a chunked body over `limits.maxBodySize` gets 413 and the
   * upstream request is aborted. (A `data` listener would start the stream flowing before undici
   * reads it and lose bytes.)
   */
  onBodySent(chunk: unknown): void {
    this.#bodyTimer?.refresh();
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
    this.#ctx.pool.reportConnected(node);
    if (this.#taskPoll && !this.#lookAfterTask(statusCode)) return true;
    const headers: string[] = [];
    this.#bodyLength = pushNodeHeaders(headers, rawHeaders);
    pushSetCookies(headers, this.#route, this.#fwd.secure);
    headers.push('X-Request-Id', this.#fwd.requestId);
    this.#status = statusCode;
    this.#resume = resume;
    if (this.#watch !== undefined && statusCode >= 200 && statusCode < 300) this.#tap = new BodyTap();
    try {
      // A request that arrived before the stop signal is answered after it: its client must not
      // reuse the connection either (issue 24).
      writeReplyHead(this.#req, this.#res, statusCode, headers, this.#ctx.lifecycle.closing, statusText);
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
      this.#res.end();
      this.#finish(statusCode);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#done) return false;
    // The body of a 404 being skipped for the next node (rule 9) is read and dropped.
    if (this.#askNext !== undefined) return true;
    this.#tap?.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes === this.#bodyLength) {
      // The last chunk: sent with the end (over HTTP/2, in the DATA frame that ends the stream,
      // not in a frame of its own).
      this.#ended = true;
      this.#res.end(chunk);
      return true;
    }
    const ok = this.#res.write(chunk);
    if (!ok) this.#stalled();
    return ok;
  }

  /**
   * The client has not taken what was written: undici pauses until 'drain'. A client that takes
   * nothing for timeouts.clientSend would hold the node's connection for good (issue 22.3).
   */
  #stalled(): void {
    this.#blocked = true;
    // No closure per request unless backpressure happens.
    this.#drain ??= () => {
      this.#blocked = false;
      this.#resume?.();
    };
    this.#res.once('drain', this.#drain);
    const ms = this.#runtime.settings.http.clientSendTimeoutMs;
    if (ms === 0) return;
    if (this.#sendTimer === undefined) this.#sendTimer = setTimeout(Exchange.#sendExpired, ms, this);
    else this.#sendTimer.refresh();
  }

  static #sendExpired(ex: Exchange): void {
    ex.#sendTimer = undefined;
    if (ex.#done || !ex.#blocked) return;
    ex.#node.stats.sendTimeouts++;
    ex.#ctx.logger.debug({ upstream: ex.#node.name, method: ex.#req.method }, 'client send timeout');
    ex.#finish(ex.#status);
    ex.#abort?.(new Error('client send timeout'));
    ex.#res.destroy();
  }

  onComplete(): void {
    this.#release();
    if (this.#done) return;
    const next = this.#askNext;
    if (next !== undefined) {
      this.#askNext = undefined;
      this.#dispatch(next);
      return;
    }
    if (!this.#ended) this.#res.end();
    if (this.#tap !== undefined) this.#reportTask(this.#tap);
    this.#finish(this.#status);
  }

  /** A deploy's answer opens its task on the node; a poll's says whether it is still open. */
  #reportTask(tap: BodyTap): void {
    this.#tap = undefined;
    const body = tap.json();
    if (this.#watch === 'deploy') {
      const id = startedTask(body);
      if (id !== undefined) this.#ctx.tasks.opened(this.#node.name, id);
      return;
    }
    const id = polledTask(this.#fwd.path);
    if (id !== undefined) this.#ctx.tasks.polled(id, isFinished(body));
  }

  onError(err: Error): void {
    this.#release();
    if (this.#done) return;
    const failure = classifyUpstreamError(err);
    const ctx = this.#ctx;
    const node = this.#node;
    const state = {
      sent: this.#sent,
      responded: this.#res.headersSent,
      idempotent: this.#idempotent(),
      redispatches: this.#route.redispatches,
      redispatchAttempts: this.#runtime.settings.routing.redispatchAttempts,
      retried: this.#route.retried,
    };
    const step = nextStep(state, failure);
    if (this.#clientGone || step.kind === 'drop') {
      this.#finish(499);
      return;
    }
    if (isConnectFailure(state, failure)) {
      node.stats.connectErrors++;
      ctx.pool.reportConnectFailure(node);
    }
    switch (step.kind) {
      case 'cut':
        ctx.logger.debug({ err, upstream: node.name }, 'upstream failed mid-response');
        this.#res.destroy();
        this.#finish(this.#status);
        return;
      case 'redispatch':
      case 'retry': {
        const next = this.#runtime.router.reroute(this.#route, step.kind, node);
        if (next !== undefined) {
          ctx.logger.debug(
            { err, upstream: node.name, to: next.name, failure },
            'request sent to another node',
          );
          this.#dispatch(next);
          return;
        }
        this.#fail(err, failure, step.otherwise);
        return;
      }
      case 'answer':
        this.#fail(err, failure, step.code);
    }
  }

  #fail(err: Error, failure: string, code: AnswerCode): void {
    // A request undici refuses to send is the client's fault: no warning per bad request.
    this.#ctx.logger[failure === 'bad-request' ? 'debug' : 'warn'](
      { err, upstream: this.#node.name, failure, method: this.#req.method },
      'upstream request failed',
    );
    this.#answer(code);
  }

  /** Answers the client with one of the balancer's own answers and finishes. */
  #answer(code: AnswerCode, close = false): void {
    writeAnswer(
      this.#req,
      this.#res,
      code,
      this.#runtime.settings.routing.retryAfterSeconds,
      close || this.#ctx.lifecycle.closing,
      this.#fwd,
    );
    this.#finish(statusOf(code));
  }

  /**
   * Rule 9 for a task poll's answer: false when this answer is a 404 to skip (another node will be
   * asked once it is read); true to relay it, re-pinning the client when another node had the task.
   */
  #lookAfterTask(statusCode: number): boolean {
    if (statusCode === 404) {
      const next = this.#runtime.router.taskCandidate(this.#route, this.#node);
      // One lookup (every other node asked) is charged once, at its first 404.
      if (next !== undefined && this.#taskFrom === undefined && !this.#ctx.taskLookups.take()) {
        this.#ctx.metrics.taskLookups.inc({ result: 'refused' });
        return true;
      }
      if (next !== undefined) {
        this.#taskFrom ??= this.#node;
        this.#askNext = next;
        return false;
      }
      if (this.#taskFrom !== undefined) this.#ctx.metrics.taskLookups.inc({ result: 'not_found' });
      return true;
    }
    if (this.#taskFrom !== undefined) {
      this.#runtime.router.taskFound(this.#route, this.#node, this.#taskFrom);
      this.#ctx.metrics.taskLookups.inc({ result: 'found' });
    }
    return true;
  }

  #idempotent(): boolean {
    const m = this.#req.method;
    return (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') && !this.#fwd.hasBody;
  }

  readonly #onClientClose = (): void => {
    // Ended by the response's last chunk: the client has it all; undici completes right after.
    if (this.#done || this.#ended) return;
    this.#clientGone = true;
    this.#abort?.();
  };

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopQueueTimer();
    if (this.#bodyTimer !== undefined) {
      clearTimeout(this.#bodyTimer);
      this.#bodyTimer = undefined;
    }
    if (this.#sendTimer !== undefined) {
      clearTimeout(this.#sendTimer);
      this.#sendTimer = undefined;
    }
    const now = performance.now();
    const seconds = (now - this.#fwd.received) / 1000;
    this.#ctx.metrics.countResponse(this.#node, status, seconds);
    const spans = this.#ctx.tracing.current;
    if (spans !== undefined) {
      const req = this.#req;
      recordSpan(spans, {
        kind: 'http',
        method: req.method,
        target: req.url,
        fwd: this.#fwd,
        route: this.#route,
        status,
        bytesOut: this.#bytes,
        bytesIn: 0,
        ended: now,
      });
    }
    if (this.#runtime.settings.http.accessLog) {
      this.#ctx.logger.info(
        {
          method: this.#req.method,
          path: this.#req.url,
          status,
          upstream: this.#node.name,
          ms: Math.round(seconds * 1000),
          bytes: this.#bytes,
          pin: this.#route.cookieFor === undefined ? 'kept' : 'set',
          requestId: this.#fwd.requestId,
          traceId: traceIdOf(this.#fwd.traceparent),
        },
        'request',
      );
    }
  }
}
