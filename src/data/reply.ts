/**
 * Where a request's answer is written, whatever its protocol: node:http's ServerResponse for
 * HTTP/1.1, the stream itself for HTTP/2 (request-head.ts). Both take the body the same way (write
 * with backpressure, end, 'drain', 'close', destroy); only the head differs, and `writeReplyHead`
 * writes it: an HTTP/2 head is sent on the stream directly (no reason phrase, lower-case names,
 * repeated names as one list), with no trailers step.
 */
import type { ServerResponse } from 'node:http';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { addHeader } from './hop-by-hop.js';
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

/** Sends `status` and the flat `headers` as the head of `stream`. */
export function respondHttp2(stream: ServerHttp2Stream, status: number, headers: readonly string[]): void {
  const head: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < headers.length; i += 2) addHeader(head, headers[i]!.toLowerCase(), headers[i + 1]!);
  stream.respond(head);
}
