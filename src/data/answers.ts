/**
 * The answers stickylb makes itself, as data: one table of `{status, title, detail, retryAfter}` by
 * stable code, and the functions that write one (a short HTML page for browsers, JSON for API
 * clients by `Accept` or any `/__api__/` path, `Retry-After` where the table says so, the code in
 * `X-Stickylb-Error`). `answer` and `answerSocket` also count the response; the Exchange writes its
 * answers with `writeAnswer` and counts them once, with their duration, when it finishes.
 */
import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ForwardedRequest } from './forwarded-headers.js';
import { type Reply, rawHead, writeReplyHead } from './reply.js';
import type { RequestHead } from './request-head.js';
import { type RecordSinks, recordFinished } from './request-record.js';
import type { Route } from './router.js';
import { newRequestId, traceIdOf } from './trace-context.js';
import type { FinishedSpan } from './tracing/spans.js';

interface AnswerSpec {
  readonly status: number;
  readonly detail: string;
  /** The answer carries `Retry-After` (failover.retryAfter): the condition is expected to pass. */
  readonly retryAfter: boolean;
}

const UNAVAILABLE =
  'No server is available to handle this request right now. Please try again in a few seconds.';
const NOT_FORWARDED = 'The request could not be forwarded.';

/** Every answer by code. Codes are stable: clients and dashboards match on them. */
export const ANSWERS = {
  NO_AVAILABLE_NODE: { status: 503, detail: UNAVAILABLE, retryAfter: true },
  QUEUE_TIMEOUT: { status: 503, detail: UNAVAILABLE, retryAfter: true },
  BAD_REQUEST: { status: 400, detail: NOT_FORWARDED, retryAfter: false },
  INVALID_HOST: { status: 400, detail: NOT_FORWARDED, retryAfter: false },
  HOST_MISMATCH: { status: 400, detail: NOT_FORWARDED, retryAfter: false },
  INVALID_TARGET: { status: 400, detail: NOT_FORWARDED, retryAfter: false },
  BODY_TOO_LARGE: {
    status: 413,
    detail: 'The request body is larger than this service accepts.',
    retryAfter: false,
  },
  CLIENT_BODY_TIMEOUT: {
    status: 408,
    detail: 'The request body stopped arriving before it was complete.',
    retryAfter: false,
  },
  METHOD_NOT_SUPPORTED: {
    status: 501,
    detail: 'This load balancer does not support the request method.',
    retryAfter: false,
  },
  HTTP_VERSION_NOT_SUPPORTED: {
    status: 505,
    detail: 'This load balancer speaks HTTP/1.0, HTTP/1.1 and WebSocket.',
    retryAfter: false,
  },
  UPSTREAM_REFUSED: {
    status: 502,
    detail: 'The server behind the load balancer failed to answer this request.',
    retryAfter: false,
  },
  UPSTREAM_RESET: {
    status: 502,
    detail: 'The server behind the load balancer failed to answer this request.',
    retryAfter: false,
  },
  UPSTREAM_BAD_RESPONSE: {
    status: 502,
    detail: 'The server behind the load balancer failed to answer this request.',
    retryAfter: false,
  },
  UPSTREAM_CONNECT_TIMEOUT: {
    status: 504,
    detail: 'The server behind the load balancer did not answer in time.',
    retryAfter: false,
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    detail: 'The server behind the load balancer did not answer in time.',
    retryAfter: false,
  },
} as const satisfies Record<string, AnswerSpec>;

/** A code of the answer table. */
export type AnswerCode = keyof typeof ANSWERS;

const TITLES: Record<number, string> = {
  400: 'Bad request',
  408: 'Request timeout',
  413: 'Request body too large',
  501: 'Not implemented',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
  505: 'HTTP version not supported',
};

/** The ids of the request an answer is for (made here when the request was refused before they were). */
export interface AnswerIds {
  readonly requestId: string;
  readonly traceparent?: string | undefined;
}

function idsOr(ids: AnswerIds | undefined): AnswerIds {
  return ids ?? { requestId: newRequestId() };
}

/** The status of `code`. */
export function statusOf(code: AnswerCode): number {
  return ANSWERS[code].status;
}

/** Body and content type of the answer `code` for `req`, naming the request's ids. */
export function answerBody(
  req: RequestHead,
  code: AnswerCode,
  ids: AnswerIds,
): { type: string; body: string } {
  const { status, detail } = ANSWERS[code];
  const traceId = ids.traceparent === undefined ? undefined : traceIdOf(ids.traceparent);
  const accept = req.headers.accept ?? '';
  const title = TITLES[status] ?? 'Error';
  const wantsJson =
    req.url?.startsWith('/__api__/') === true ||
    (accept.includes('application/json') && !accept.includes('text/html')) ||
    (accept !== '' && !accept.includes('text/html') && !accept.includes('*/*'));
  if (wantsJson) {
    const error = {
      code,
      status,
      message: detail,
      requestId: ids.requestId,
      ...(traceId ? { traceId } : {}),
    };
    return { type: 'application/json', body: JSON.stringify({ error }) };
  }
  // Ids are made of [A-Za-z0-9._:@/+=-] (trace-context.ts): nothing to escape.
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status} ${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{color:#666}</style></head><body><h1>${title}</h1><p>${detail}</p><p><code>${code}</code> · request <code>${ids.requestId}</code>${traceId ? ` · trace <code>${traceId}</code>` : ''}</p></body></html>`;
  return { type: 'text/html; charset=utf-8', body };
}

/**
 * Writes the answer `code` on `reply` (without counting it), unless headers already went out: then
 * the request is cut, the only honest signal left. `close` ends an HTTP/1.1 connection after it (an
 * unread body).
 */
export function writeAnswer(
  req: RequestHead,
  reply: Reply,
  code: AnswerCode,
  retryAfterSeconds: number,
  close = false,
  ids?: AnswerIds,
): void {
  const stream = req.stream;
  if (reply.headersSent || (stream !== undefined && (stream.destroyed || stream.closed))) {
    reply.destroy();
    return;
  }
  const known = idsOr(ids);
  const { type, body } = answerBody(req, code, known);
  const headers: string[] = [
    'X-Request-Id',
    known.requestId,
    'Content-Type',
    type,
    'Content-Length',
    String(Buffer.byteLength(body)),
    'Cache-Control',
    'no-store',
    'X-Stickylb-Error',
    code,
  ];
  if (ANSWERS[code].retryAfter) headers.push('Retry-After', String(retryAfterSeconds));
  writeReplyHead(req, reply, ANSWERS[code].status, headers, close);
  reply.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Writes the answer `code` on a raw socket (an upgrade or CONNECT request node:http let go of), without
 * counting it, and closes the socket.
 */
export function writeSocketAnswer(
  req: RequestHead,
  socket: Duplex,
  code: AnswerCode,
  retryAfterSeconds: number,
  ids?: AnswerIds,
): void {
  if (socket.destroyed) return;
  const { status, known, type, body } = answerParts(req, code, ids);
  const headers = [
    ...['X-Request-Id', known.requestId, 'Content-Type', type],
    ...['Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store'],
    ...['X-Stickylb-Error', code],
  ];
  if (ANSWERS[code].retryAfter) headers.push('Retry-After', String(retryAfterSeconds));
  socket.end(`${rawHead(status, TITLES[status] ?? 'Error', headers, true)}${body}`);
}

/**
 * Sends the balancer's own answers (those that no Exchange finishes), and finishes each once
 * (request-record.ts): its status against the route's node (none when unrouted), its span with
 * tracing on and the request's ids made, its access line with `logging.access`.
 */
export class Answers {
  readonly #sinks: RecordSinks;
  /** Whether `logging.access` is on now (the running settings'). */
  readonly #accessLog: () => boolean;

  constructor(sinks: RecordSinks, accessLog: () => boolean) {
    this.#sinks = sinks;
    this.#accessLog = accessLog;
  }

  /** Answers `code` on an HTTP response (HTTP/1.1's, or an HTTP/2 stream). */
  http(
    req: RequestHead,
    res: Reply,
    code: AnswerCode,
    retryAfterSeconds: number,
    close = false,
    route?: Route,
    fwd?: ForwardedRequest,
  ): void {
    writeAnswer(req, res, code, retryAfterSeconds, close, fwd);
    this.#count('http', req, code, route, fwd);
  }

  /** Answers `code` on a raw socket (an upgrade or CONNECT request) and closes it. */
  socket(
    req: RequestHead,
    socket: Duplex,
    code: AnswerCode,
    retryAfterSeconds: number,
    route?: Route,
    fwd?: ForwardedRequest,
  ): void {
    this.#count('websocket', req, code, route, fwd);
    writeSocketAnswer(req, socket, code, retryAfterSeconds, fwd);
  }

  /** Answers `code` on an HTTP/2 stream (an extended CONNECT) and ends the stream. */
  stream(
    req: RequestHead,
    stream: ServerHttp2Stream,
    code: AnswerCode,
    retryAfterSeconds: number,
    route?: Route,
    fwd?: ForwardedRequest,
  ): void {
    this.#count('websocket', req, code, route, fwd);
    writeAnswer(req, stream, code, retryAfterSeconds, false, fwd);
  }

  #count(
    kind: FinishedSpan['kind'],
    req: RequestHead,
    code: AnswerCode,
    route: Route | undefined,
    fwd: ForwardedRequest | undefined,
  ): void {
    const finished = {
      kind,
      method: req.method,
      target: req.url,
      fwd,
      route,
      node: route?.node,
      status: ANSWERS[code].status,
      bytesOut: 0,
      bytesIn: 0,
    };
    recordFinished(this.#sinks, finished, this.#accessLog());
  }
}

/** What every raw answer is made of: its status, the request's ids, and its body. */
function answerParts(req: RequestHead, code: AnswerCode, ids: AnswerIds | undefined) {
  const known = idsOr(ids);
  return { status: ANSWERS[code].status, known, ...answerBody(req, code, known) };
}
