/**
 * OpenTelemetry export, opt-in (`tracing.otlp.endpoint`): one span per request and per WebSocket
 * session, with the ids of the `traceparent` stickylb sent to the node, so the node's own spans
 * hang under it. With tracing off nothing here is loaded beyond this file, and a request pays one
 * property check: the OpenTelemetry packages are imported only when an endpoint is configured
 * (otlp-sink.ts).
 */
import type { TracingSettings } from '../../contract/data-settings.js';
import type { Logger } from '../../logger.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import type { Route } from '../router.js';
import type { FinishedSpan, SpanSink } from './span-sink.js';

export type { FinishedSpan, SpanSink } from './span-sink.js';

/** What a span is made from: the request as forwarded, its route and its outcome. */
export interface SpanParts {
  readonly kind: FinishedSpan['kind'];
  readonly method: string | undefined;
  readonly target: string | undefined;
  readonly fwd: ForwardedRequest;
  /** Undefined when no node could take the request. */
  readonly route: Route | undefined;
  readonly status: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  /** `performance.now()` when it ended (it started when `fwd` was received). */
  readonly ended: number;
}

/** Records the span of `parts` on `sink`. */
export function recordSpan(sink: SpanSink, parts: SpanParts): void {
  const { fwd, route } = parts;
  sink.record({
    kind: parts.kind,
    method: parts.method ?? 'GET',
    target: parts.target ?? '/',
    status: parts.status,
    node: route?.node.name,
    repin: route?.repin,
    retries: route === undefined ? 0 : route.redispatches + (route.retried ? 1 : 0),
    bytesOut: parts.bytesOut,
    bytesIn: parts.bytesIn,
    startMs: performance.timeOrigin + fwd.received,
    endMs: performance.timeOrigin + parts.ended,
    traceparent: fwd.traceparent,
    parent: fwd.parentTraceparent,
    requestId: fwd.requestId,
  });
}

/** Longest wait for a replaced or closing sink to export what it holds. */
const FLUSH_MS = 2000;

/** The data plane's span sink for its current settings; `current` is undefined while tracing is off. */
export class Tracing {
  current: SpanSink | undefined;
  readonly #logger: Logger;
  #key: string | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Starts, restarts or stops the export for `settings` (changes apply in order). A replaced sink
   * flushes in the background, for at most `FLUSH_MS`: a collector that is down (the exporter
   * retries with backoff) must not hold up the new one, or a shutdown.
   */
  configure(settings: TracingSettings | undefined): Promise<void> {
    const key = settings === undefined ? undefined : JSON.stringify(settings);
    if (key === this.#key) return this.#queue;
    this.#key = key;
    this.#queue = this.#queue.then(async () => {
      const old = this.current;
      this.current = undefined;
      const flushed = old === undefined ? Promise.resolve() : this.#flush(old);
      if (settings === undefined) {
        await flushed;
        return;
      }
      try {
        const { createOtlpSink } = await import('./otlp-sink.js');
        this.current = createOtlpSink(settings, this.#logger);
        this.#logger.info(
          { endpoint: settings.endpoint, sampleRatio: settings.sampleRatio },
          'exporting spans over OTLP/HTTP',
        );
      } catch (err) {
        this.#logger.error({ err }, 'span export could not start; requests are served without it');
      }
    });
    return this.#queue;
  }

  async #flush(sink: SpanSink): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, FLUSH_MS, 'timeout');
    });
    const result = await Promise.race([sink.shutdown().then(() => 'done' as const), timeout]).catch(
      (err: unknown) => {
        this.#logger.warn({ err }, 'span export flush failed');
        return 'failed' as const;
      },
    );
    clearTimeout(timer);
    if (result === 'timeout') this.#logger.warn({ ms: FLUSH_MS }, 'span export flush gave up; spans dropped');
  }

  /** Flushes and stops the export (shutdown). */
  close(): Promise<void> {
    return this.configure(undefined);
  }
}
