/**
 * Request ids and W3C trace context (docs/design.md: every forwarded request carries `X-Request-Id` and a
 * `traceparent`). A client's valid `traceparent` is continued with a new span id, a missing or
 * invalid one (all-zero ids included) starts a new trace; `X-Request-Id` is kept from a trusted
 * proxy, else made here: a per-process random prefix and a counter, unique across replicas and
 * restarts and cheap enough for every request. Random hex comes from a pooled string: 4 KiB of
 * CSPRNG bytes hex-encoded at once, sliced per id (no system call nor encoding per request).
 */
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let hex = '';
let offset = 0;

/** `bytes` random bytes as lower-case hex (each pooled byte used once). */
function randomHex(bytes: number): string {
  const chars = bytes * 2;
  if (offset + chars > hex.length) {
    randomFillSync(POOL);
    hex = POOL.toString('hex');
    offset = 0;
  }
  const out = hex.slice(offset, offset + chars);
  offset += chars;
  return out;
}

const PREFIX = randomHex(6);
let counter = 0;

/** A new request id: `<12 hex of this process>-<counter in base 36>`. */
export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PREFIX}-${counter.toString(36)}`;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;

/** A request id a trusted proxy sent, when it is one we can pass on as it is. */
export function acceptRequestId(value: string | undefined): string | undefined {
  return value !== undefined && REQUEST_ID.test(value) ? value : undefined;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The `traceparent` to send upstream for the client's `incoming` one: the same trace with a new
 * span id when valid (version 00 exactly; a later version by its first four fields), else a new
 * trace. A new trace is sampled unless `sampleRatio` (tracing.sampleRatio, with tracing on) says
 * otherwise: stickylb is then the root that decides, and its flag tells the node (and the span
 * exporter) whether the trace is recorded.
 */
export function nextTraceparent(incoming: string | undefined, sampleRatio?: number): string {
  if (incoming !== undefined) {
    const m = TRACEPARENT.exec(incoming.trim());
    if (
      m !== null &&
      m[1] !== 'ff' &&
      (m[1] !== '00' || incoming.trim().length === 55) &&
      m[2] !== ZERO_TRACE &&
      m[3] !== ZERO_SPAN
    ) {
      return `00-${m[2]}-${randomHex(8)}-${m[4]}`;
    }
  }
  const sampled = sampleRatio === undefined || sampleRatio >= 1 || Math.random() < sampleRatio;
  return `00-${randomHex(16)}-${randomHex(8)}-${sampled ? '01' : '00'}`;
}

/** The trace id of a `traceparent` this module made. */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}
