/**
 * Where a request's answer is written, whatever its protocol: node:http's ServerResponse for
 * HTTP/1.1, the stream itself for HTTP/2 (request-head.ts). Both take the body the same way (write
 * with backpressure, end, 'drain', 'close', destroy); only the head differs, and `writeReplyHead`
 * writes it: an HTTP/2 head is sent on the stream directly (no reason phrase, lower-case names,
 * repeated names as one list), with no trailers step. A socket node:http has let go of (an upgrade)
 * gets its head from `rawHead`: these are the one writer of a head per client protocol.
 */
import type { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { RequestHead } from './request-head.js';

/** The body side of an answer, common to ServerResponse and ServerHttp2Stream. */
export interface Reply {
  readonly headersSent: boolean;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): unknown;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  destroy(): unknown;
}

/**
 * Writes the head of `reply` (`headers` flat: `[name, value, ...]`); `close` ends an HTTP/1.1
 * connection after it (HTTP/2 sessions are closed with GOAWAY instead).
 */
export function writeReplyHead(
  req: RequestHead,
  reply: Reply,
  status: number,
  headers: readonly string[],
  close: boolean,
  statusText?: string,
): void {
  const stream = req.stream;
  if (stream !== undefined) {
    respondHttp2(stream, status, headers);
    return;
  }
  const res = reply as ServerResponse;
  if (close) res.shouldKeepAlive = false;
  if (statusText === undefined) res.writeHead(status, headers as string[]);
  else res.writeHead(status, statusText, headers as string[]);
}

/**
 * An HTTP/1.1 head as raw bytes, for a socket node:http has let go of (an upgrade's 101, its
 * refusal, the balancer's own answer to an upgrade): `headers` flat, `close` adds
 * `Connection: close`. A status line never carries a CR or LF: the reason phrase is cut at one.
 */
export function rawHead(status: number, reason: string, headers: readonly string[], close: boolean): string {
  let head = `HTTP/1.1 ${status} ${reason.replace(/[\r\n].*$/s, '')}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (close) head += 'Connection: close\r\n';
  return `${head}\r\n`;
}

/**
 * Whether `respond` takes a flat array of raw header names and values (Node 24; nodejs/node#59455):
 * undefined until the first answer on a runtime that may (tried once), then known.
 */
let rawRespond: boolean | undefined = Number(process.versions.node.split('.')[0]) >= 24 ? undefined : false;

/**
 * Sends `status` and the flat `headers` as the head of `stream`: on Node 24 as a flat array built
 * in one pass (no header object between), elsewhere as the object `http2Head` builds. Both keep the
 * same rule: a field HTTP/2 sends once keeps its first value.
 */
export function respondHttp2(stream: ServerHttp2Stream, status: number, headers: readonly string[]): void {
  if (rawRespond !== false) {
    const raw = http2RawHead(status, headers);
    try {
      (stream as unknown as { respond(headers: readonly string[]): void }).respond(raw);
      rawRespond = true;
      return;
    } catch (err) {
      if (rawRespond === true || (err as { code?: string }).code !== 'ERR_INVALID_ARG_TYPE') throw err;
      rawRespond = false;
    }
  }
  stream.respond(http2Head(status, headers));
}

/**
 * The flat `[name, value, ...]` head `respond` takes on Node 24 for `status` and `headers`: names
 * lower-cased, a repeated field HTTP/2 sends once after its first value left out (http2Head's rule).
 */
export function http2RawHead(status: number, headers: readonly string[]): string[] {
  const raw: string[] = [':status', String(status)];
  let seenLow = 0;
  let seenHigh = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const bit = SINGLE_VALUE_BIT.get(name);
    if (bit !== undefined) {
      if (bit < 31) {
        if (seenLow & (1 << bit)) continue;
        seenLow |= 1 << bit;
      } else {
        if (seenHigh & (1 << (bit - 31))) continue;
        seenHigh |= 1 << (bit - 31);
      }
    }
    raw.push(name, headers[i + 1]!);
  }
  return raw;
}

/**
 * The header object `respond` takes for `status` and the flat `headers`: names lower-cased, a
 * repeated name as a list, except a field HTTP/2 sends once (the first value kept).
 */
export function http2Head(status: number, headers: readonly string[]): OutgoingHttpHeaders {
  const head: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    const had = head[name];
    if (had === undefined) head[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else if (!SINGLE_VALUE.has(name)) head[name] = [String(had), value];
  }
  return head;
}

/**
 * Fields node:http2 sends once at most (its `kSingleValueHeaders`; `respond` throws on a second).
 * A node that repeats one over HTTP/1.1, which relays it as is, is answered over HTTP/2 with the
 * first value rather than a 502.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/** Each single-value field's bit in `http2RawHead`'s two masks. */
const SINGLE_VALUE_BIT = new Map([...SINGLE_VALUE].map((name, i) => [name, i]));
