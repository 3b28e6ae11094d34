/**
 * Spans to an OTLP/HTTP collector through the OpenTelemetry SDK: a batch processor (a bounded
 * queue; spans beyond it are dropped, never the request), parent-based sampling (a client's flag),
 * and the ids and, for new traces, the sampling decision stickylb already made for the
 * `traceparent` sent to the node (trace-context.ts, `tracing.sampleRatio`). The SDK makes its own
 * ids; `GivenIds` hands it the ones of the `traceparent` sent to the node (a span is started
 * synchronously right after they are set, so no other span can take them).
 * Imported only when tracing is on (spans.ts).
 */
import {
  type Attributes,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TraceFlags,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  ParentBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { TracingSettings } from '../../contract/data-settings.js';
import type { Logger } from '../../logger.js';
import { VERSION } from '../../version.js';
import type { FinishedSpan, SpanSink } from './span-sink.js';

class GivenIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId(): string {
    return this.traceId;
  }
  generateSpanId(): string {
    return this.spanId;
  }
}

/**
 * Longest attribute value kept (a request path can be as long as the header limit allows). With a
 * bounded count of attributes this bounds each queued span, and so the queue's memory:
 * `MAX_QUEUED_SPANS` spans plus `MAX_EXPORTS_IN_FLIGHT` batches, a few MB whatever the collector
 * does. A collector that does not answer costs spans, never memory (issue 22.2).
 */
export const MAX_ATTRIBUTE_CHARS = 1024;
const MAX_QUEUED_SPANS = 4096;
const MAX_BATCH = 512;
const MAX_EXPORTS_IN_FLIGHT = 2;
/** Longest part of a diagnostic (a collector's error body) written to the log. */
const MAX_DIAGNOSTIC_CHARS = 512;

/** A sink exporting to `settings.endpoint`. */
export function createOtlpSink(settings: TracingSettings, logger: Logger): SpanSink {
  const ids = new GivenIds();
  const exporter = new OTLPTraceExporter({
    url: settings.endpoint,
    headers: { ...settings.headers },
    timeoutMillis: 10_000,
    concurrencyLimit: MAX_EXPORTS_IN_FLIGHT,
  });
  const limits = { attributeValueLengthLimit: MAX_ATTRIBUTE_CHARS, attributeCountLimit: 32 };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': VERSION }),
    idGenerator: ids,
    generalLimits: limits,
    spanLimits: { ...limits, eventCountLimit: 0, linkCountLimit: 0 },
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        maxQueueSize: MAX_QUEUED_SPANS,
        maxExportBatchSize: MAX_BATCH,
        scheduledDelayMillis: 1000,
      }),
    ],
  });
  const tracer = provider.getTracer('stickylb', VERSION);
  // The SDK reports failed exports (collector down, refused) through its diagnostic logger.
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn({ detail: args.map(diagnostic) }, `span export: ${cut(String(message))}`);
  const quiet = () => {};
  diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN);
  return {
    record(s: FinishedSpan): void {
      const traceId = s.traceparent.slice(3, 35);
      ids.traceId = traceId;
      ids.spanId = s.traceparent.slice(36, 52);
      // A continued trace (same trace id as the client's): the client's span is the parent.
      const parent =
        s.parent !== undefined && s.parent.slice(3, 35) === traceId
          ? trace.setSpanContext(ROOT_CONTEXT, {
              traceId,
              spanId: s.parent.slice(36, 52),
              traceFlags: Number.parseInt(s.parent.slice(53, 55), 16) as TraceFlags,
              isRemote: true,
            })
          : ROOT_CONTEXT;
      // A new trace is stickylb's to sample, decided when its traceparent was made (its flag).
      if (parent === ROOT_CONTEXT && s.traceparent.endsWith('-00')) return;
      const span = tracer.startSpan(
        s.kind === 'websocket' ? 'WebSocket' : s.method,
        { kind: SpanKind.SERVER, startTime: s.startMs, attributes: attributesOf(s) },
        parent,
      );
      if (s.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(s.endMs);
    },
    async shutdown(): Promise<void> {
      await provider.shutdown();
    },
  };
}

function attributesOf(s: FinishedSpan): Attributes {
  const q = s.target.indexOf('?');
  const attrs: Attributes = {
    'http.request.method': s.method,
    'url.path': ownCopy(s.target.slice(0, Math.min(q < 0 ? s.target.length : q, MAX_ATTRIBUTE_CHARS))),
    'http.response.status_code': s.status,
    'stickylb.request_id': s.requestId,
    'stickylb.retries': s.retries,
  };
  if (s.node !== undefined) attrs['stickylb.upstream'] = s.node;
  if (s.repin !== undefined) attrs['stickylb.repin_reason'] = s.repin;
  if (s.kind === 'websocket') {
    attrs['network.protocol.name'] = 'websocket';
    attrs['stickylb.websocket.bytes_from_node'] = s.bytesOut;
    attrs['stickylb.websocket.bytes_to_node'] = s.bytesIn;
  } else {
    attrs['http.response.body.size'] = s.bytesOut;
  }
  return attrs;
}

/**
 * `text` as a string of its own: V8 keeps a slice of a long string as a view of its parent, so a
 * queued span would hold the whole 60 KB path its 1 KB attribute was cut from (issue 32.2).
 * Encoding and decoding makes a flat copy; the slice and its parent are then free.
 */
function ownCopy(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

/** A diagnostic argument as a short string (an exporter error can carry the collector's whole body). */
function diagnostic(arg: unknown): string {
  if (arg instanceof Error) return cut(`${arg.name}: ${arg.message}`);
  if (typeof arg === 'string') return cut(arg);
  try {
    return cut(JSON.stringify(arg) ?? String(arg));
  } catch {
    return cut(String(arg));
  }
}

function cut(text: string): string {
  return text.length <= MAX_DIAGNOSTIC_CHARS
    ? text
    : `${text.slice(0, MAX_DIAGNOSTIC_CHARS)}... (${text.length} chars)`;
}
