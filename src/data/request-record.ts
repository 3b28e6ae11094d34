/**
 * The one finisher of a request, whatever answered it (a node through an exchange, a WebSocket
 * handshake, or the balancer itself): its status counted against its node with its duration, its
 * span when tracing is on, and its access-log line when `http.accessLog` is.
 *
 * A WebSocket the node accepted is finished in two steps: `countAnswered` at its 101 counts the
 * handshake with its real duration (how long the node took to accept the session); at its close
 * `recordFinished`, given the time of the 101 as `opened`, traces and logs the whole session (its
 * length and bytes both ways) without counting it again.
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import type { ForwardedRequest } from './forwarded-headers.js';
import type { Route } from './router.js';
import { traceIdOf } from './trace-context.js';
import { type FinishedSpan, recordSpan, type Tracing } from './tracing/spans.js';

/** Where finished requests are recorded. */
export interface RecordSinks {
  readonly metrics: Metrics;
  readonly tracing: Tracing;
  readonly logger: Logger;
}

/** What is known of a request once it is answered. */
export interface FinishedRequest {
  readonly kind: FinishedSpan['kind'];
  readonly method: string | undefined;
  readonly target: string | undefined;
  /** Its forwarded headers and ids (undefined when refused before they were made). */
  readonly fwd: ForwardedRequest | undefined;
  readonly route: Route | undefined;
  readonly node: UpstreamNode | undefined;
  readonly status: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** A WebSocket session: `performance.now()` at its 101, when it was counted (`countAnswered`). */
  readonly opened?: number | undefined;
}

/** Counts the answer of `done` now, with its duration since it was received. */
export function countAnswered(sinks: RecordSinks, done: FinishedRequest): void {
  const fwd = done.fwd;
  const seconds = fwd === undefined ? 0 : (performance.now() - fwd.received) / 1000;
  sinks.metrics.countResponse(done.node, done.status, seconds);
}

/** Records `done` in `sinks`; `accessLog` writes its line. */
export function recordFinished(sinks: RecordSinks, done: FinishedRequest, accessLog: boolean): void {
  const fwd = done.fwd;
  const now = performance.now();
  const seconds = fwd === undefined ? 0 : (now - fwd.received) / 1000;
  const opened = done.opened;
  if (opened === undefined) sinks.metrics.countResponse(done.node, done.status, seconds);
  if (fwd === undefined) return;
  const spans = sinks.tracing.current;
  if (spans !== undefined) recordSpan(spans, { ...done, fwd, ended: now });
  if (!accessLog) return;
  sinks.logger.info(
    {
      kind: done.kind,
      method: done.method,
      path: done.target,
      status: done.status,
      upstream: done.node?.name,
      ms: Math.round(seconds * 1000),
      bytes: done.bytesOut,
      ...(opened === undefined
        ? undefined
        : { handshakeMs: Math.round(opened - fwd.received), bytesIn: done.bytesIn }),
      pin: done.route?.cookieFor === undefined ? 'kept' : 'set',
      requestId: fwd.requestId,
      traceId: traceIdOf(fwd.traceparent),
    },
    'request',
  );
}
