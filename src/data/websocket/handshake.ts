/**
 * One client's WebSocket handshake and its attempts on nodes, over a fresh node:http connection per
 * attempt (undici's `upgrade()` cannot relay a non-101 answer), under the attempt policy shared with
 * HTTP (attempt-policy.ts). It is bounded on every side:
 * - the client's socket is read while the node has not answered, so its FIN or reset is seen at once
 *   and the node's side torn down (bytes a client sends early are kept, within a small cap);
 * - connecting has `timeouts.connect`, answering the handshake `timeouts.websocketHandshake`;
 * - a node lost (down, maintenance, removed) aborts its pending handshakes, which are redispatched
 *   to another node and re-pin the client, as nothing was sent to the client yet.
 */

import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { contentRefOf } from '../../affinity/placement.js';
import type { Clock, Timer } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { NodeTable } from '../../pool/node-table.js';
import type { TrafficLease } from '../../pool/node-traffic.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import type { AnswerCode, Answers } from '../answers.js';
import type { AttemptFailure } from '../attempt-policy.js';
import { afterFailure } from '../attempts.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { countAnswered, type FinishedRequest, recordFinished } from '../request-record.js';
import { pushSetCookies, type Route } from '../router.js';
import type { Runtime } from '../runtime.js';
import type { Tracing } from '../tracing/spans.js';
import { classifyUpstreamError } from '../upstream-failure.js';
import type { HandshakeClient } from './handshake-client.js';

/** What every handshake uses, whatever the runtime settings. */
export interface HandshakeContext {
  readonly pool: NodeTable;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly answers: Answers;
  readonly tracing: Tracing;
  /** What the connect and handshake timers run on (the exchange's clock). */
  readonly clock: Clock;
}

/** The registries a handshake reports to (the WebSocket proxy). */
export interface HandshakeHost {
  /** A handshake starts (`waiting`) or stops waiting on `node`. */
  track(node: UpstreamNode, handshake: Handshake, waiting: boolean): void;
  /** Turns a completed handshake into a tunnel; `onClosed` hears its end. */
  openTunnel(
    client: Duplex,
    upstream: Duplex,
    node: UpstreamNode,
    idleTimeoutMs: number,
    onClosed: (() => void) | undefined,
    content: string | undefined,
  ): void;
}

/** Bytes a client may send before the 101 (it should send none); more closes the connection. */
const EARLY_BYTES_LIMIT = 64 * 1024;

/** One client's handshake and its attempts on nodes. */
export class Handshake {
  readonly #proxy: HandshakeHost;
  readonly #ctx: HandshakeContext;
  readonly #runtime: Runtime;
  readonly #client: HandshakeClient;
  readonly #socket: Duplex;
  readonly #fwd: ForwardedRequest;
  readonly #route: Route;
  #early: Buffer[];
  #earlyBytes = 0;
  #upReq: ClientRequest | undefined;
  #node!: UpstreamNode;
  #timer: Timer | undefined;
  /** The attempt's place in its node's in-flight count (node-traffic.ts). */
  #lease: TrafficLease | undefined;
  /** Why this side ended the attempt (its own timers, a lost node), when it did. */
  #cause: AttemptFailure | undefined;
  #connected = false;
  #done = false;

  constructor(
    proxy: HandshakeHost,
    ctx: HandshakeContext,
    runtime: Runtime,
    client: HandshakeClient,
    head: Buffer,
    fwd: ForwardedRequest,
    route: Route,
  ) {
    this.#proxy = proxy;
    this.#ctx = ctx;
    this.#runtime = runtime;
    this.#client = client;
    this.#socket = client.duplex;
    this.#fwd = fwd;
    this.#route = route;
    this.#early = head.length > 0 ? [head] : [];
    this.#earlyBytes = head.length;
  }

  start(): void {
    // Reading the client's socket is how its FIN or reset is noticed while the node thinks.
    this.#socket.on('data', this.#onEarlyData);
    this.#socket.on('end', this.#onClientGone);
    this.#socket.on('close', this.#onClientGone);
    this.#attempt(this.#route.node);
  }

  /** The node was lost while this handshake waited on it. */
  nodeLost(): void {
    this.#abortAttempt('node-lost');
  }

  /** Ends the handshake and both sockets (shutdown). */
  destroy(): void {
    this.#settle();
    this.#done = true;
    this.#upReq?.destroy();
    this.#socket.destroy();
  }

  #attempt(node: UpstreamNode): void {
    this.#node = node;
    this.#connected = false;
    this.#cause = undefined;
    const options = {
      host: node.host,
      port: node.port,
      method: this.#client.method,
      path: this.#fwd.path,
      headers:
        this.#client.upgradeHeaders.length === 0
          ? this.#fwd.headers
          : [...this.#fwd.headers, ...this.#client.upgradeHeaders],
      setHost: false,
      agent: false as const,
      ...node.tlsOptions,
    };
    const upReq = node.tls ? httpsRequest(options) : httpRequest(options);
    this.#upReq = upReq;
    // A handshake in progress counts as in-flight work for node selection.
    this.#lease = node.traffic.request();
    this.#proxy.track(node, this, true);
    const ws = this.#runtime.settings.websocket;
    this.#arm(ws.connectTimeoutMs, 'connect-timeout');
    upReq.once('socket', (s: Socket) => {
      s.once('connect', () => {
        if (this.#upReq !== upReq) return;
        this.#connected = true;
        this.#arm(ws.handshakeTimeoutMs, 'response-timeout');
      });
    });
    upReq.once('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) =>
      this.#onUpgrade(res, upstream, upstreamHead),
    );
    upReq.once('response', (res: IncomingMessage) => this.#onRefusal(res));
    upReq.once('error', (err: Error) => {
      if (this.#upReq === upReq) this.#onError(err);
    });
    upReq.end();
  }

  #arm(ms: number, cause: AttemptFailure): void {
    this.#disarm();
    this.#timer =
      ms > 0 ? this.#ctx.clock.setTimeout(abortOnTimer, ms, { handshake: this, cause }) : undefined;
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A timer of this attempt fired (for `abortOnTimer`). */
  timedOut(cause: AttemptFailure): void {
    this.#abortAttempt(cause);
  }

  #abortAttempt(cause: AttemptFailure): void {
    if (this.#upReq === undefined || this.#done) return;
    this.#cause = cause;
    this.#upReq.destroy(new Error(`websocket handshake: ${cause}`));
  }

  /** The attempt on the current node is over (answered or failed). */
  #settle(): void {
    if (this.#upReq === undefined) return;
    this.#disarm();
    this.#lease?.end();
    this.#proxy.track(this.#node, this, false);
    this.#upReq = undefined;
  }

  #stopReading(): void {
    this.#socket.off('data', this.#onEarlyData);
    this.#socket.off('end', this.#onClientGone);
    this.#socket.off('close', this.#onClientGone);
  }

  readonly #onEarlyData = (chunk: Buffer): void => {
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > EARLY_BYTES_LIMIT) {
      this.#onClientGone();
      return;
    }
    this.#early.push(chunk);
  };

  /** The client closed (FIN or reset) before the node answered: tear down the node's side too. */
  readonly #onClientGone = (): void => {
    if (this.#done) return;
    this.#done = true;
    const node = this.#node;
    this.#stopReading();
    this.#upReq?.destroy();
    this.#settle();
    this.#socket.destroy();
    recordFinished(this.#ctx, this.#finished(node, 499, 0, 0), this.#runtime.settings.http.accessLog);
  };

  #onUpgrade(res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void {
    const node = this.#node;
    // "Connected" evidence is a node's answer, on every path (as an exchange's response head).
    this.#ctx.pool.reportConnected(node);
    if (this.#route.watched) this.#ctx.pool.reportContentOutcome(node, this.#route.content!, true);
    this.#settle();
    this.#stopReading();
    upstream.on('error', ignore);
    if (this.#done || this.#socket.destroyed) {
      upstream.destroy();
      return;
    }
    this.#done = true;
    if (!this.#client.accept(res, this.#extraHeaders())) {
      upstream.destroy();
      this.#socket.destroy();
      return;
    }
    if (upstreamHead.length > 0) this.#socket.write(upstreamHead);
    for (const chunk of this.#early) upstream.write(chunk);
    this.#early = [];
    // Counted now with the time the node took to accept; traced and logged whole at its close.
    const status = this.#client.acceptStatus;
    countAnswered(this.#ctx, this.#finished(node, status, 0, 0));
    node.stats.upgrades++;
    const opened = performance.now();
    const accessLog = this.#runtime.settings.http.accessLog;
    const onClosed = () => {
      const session = this.#finished(node, status, upstream.bytesRead, upstream.bytesWritten, opened);
      recordFinished(this.#ctx, session, accessLog);
    };
    this.#proxy.openTunnel(
      this.#socket,
      upstream,
      node,
      this.#runtime.settings.websocket.idleTimeoutMs,
      onClosed,
      contentRefOf(this.#fwd.path, this.#ctx.pool.vanity)?.guid,
    );
  }

  /** The node refused the upgrade (401, 404, ...): relay its answer and close. */
  #onRefusal(res: IncomingMessage): void {
    const node = this.#node;
    this.#ctx.pool.reportConnected(node);
    const status = res.statusCode ?? 502;
    // Rule 13: a 5xx refusal is a failure of the content there; a 4xx is the client's.
    if (this.#route.watched && (status < 400 || status >= 500))
      this.#ctx.pool.reportContentOutcome(node, this.#route.content!, status < 400);
    this.#settle();
    this.#stopReading();
    if (this.#done) {
      res.resume();
      return;
    }
    this.#done = true;
    this.#client.refuse(res, this.#extraHeaders());
    const accessLog = this.#runtime.settings.http.accessLog;
    recordFinished(this.#ctx, this.#finished(node, res.statusCode ?? 502, 0, 0), accessLog);
  }

  #onError(err: Error): void {
    const node = this.#node;
    const failure = this.#cause ?? classifyUpstreamError(err);
    this.#settle();
    if (this.#done) return;
    // Rule 13: no head from the node is a failure of the content there (a node lost is the node's).
    if (this.#route.watched && failure !== 'node-lost')
      this.#ctx.pool.reportContentOutcome(node, this.#route.content!, false);
    // A handshake is a GET without a body, and has sent its client nothing.
    const progress = { sent: this.#connected, responded: false, idempotent: true };
    const next = afterFailure(this.#ctx.pool, this.#runtime, this.#route, node, progress, failure);
    // A handshake has sent nothing to its client: no cut; a drop is its client's close, seen already.
    if (next.kind === 'again') this.#attempt(next.node);
    else if (next.kind === 'answer') this.#fail(err, failure, next.code);
  }

  #fail(err: Error, failure: AttemptFailure, code: AnswerCode): void {
    this.#done = true;
    this.#stopReading();
    this.#ctx.logger.warn({ err, upstream: this.#node.name, failure }, 'websocket handshake failed');
    const retryAfter = this.#runtime.settings.routing.retryAfterSeconds;
    this.#client.answer(this.#ctx.answers, code, retryAfter, this.#route, this.#fwd);
  }

  /** This handshake as a finished request (request-record.ts). */
  #finished(
    node: UpstreamNode,
    status: number,
    bytesOut: number,
    bytesIn: number,
    opened?: number,
  ): FinishedRequest {
    const { method, req } = this.#client;
    return {
      kind: 'websocket',
      method,
      target: req.url,
      fwd: this.#fwd,
      route: this.#route,
      node,
      status,
      bytesOut,
      bytesIn,
      opened,
    };
  }

  /** The answer's request id, and its Set-Cookie when the handshake (re)pinned the client. */
  #extraHeaders(): string[] {
    const extra = ['X-Request-Id', this.#fwd.requestId];
    pushSetCookies(extra, this.#route, this.#fwd.secure);
    return extra;
  }
}

function ignore(): void {}

function abortOnTimer(t: { handshake: Handshake; cause: AttemptFailure }): void {
  t.handshake.timedOut(t.cause);
}
