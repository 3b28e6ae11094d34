/**
 * The proxy server's `clientError` listener: node:http's default answer (400, 431 or 408, then the
 * connection is closed), plus a count by reason in `stickylb_client_errors_total` and a debug log
 * line, so that malformed requests, oversized headers and slow clients show in /metrics the way
 * HAProxy's request errors do. Nothing here reaches a node.
 */
import type { Duplex } from 'node:stream';
import { rawHead } from './reply.js';

/** Why node:http gave up on a client connection (the `reason` label, every value from start). */
export const CLIENT_ERROR_REASONS = ['bad_request', 'headers_too_large', 'timeout', 'aborted'] as const;
export type ClientErrorReason = (typeof CLIENT_ERROR_REASONS)[number];

const ANSWERS: Record<Exclude<ClientErrorReason, 'aborted'>, string> = {
  bad_request: answer(400, 'Bad Request', 'BAD_REQUEST'),
  headers_too_large: answer(431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE'),
  timeout: answer(408, 'Request Timeout', 'REQUEST_TIMEOUT'),
};

/** An empty answer with its code, through the one raw head writer (reply.ts). */
function answer(status: number, reason: string, code: string): string {
  return rawHead(status, reason, ['Content-Length', '0', 'X-Stickylb-Error', code], true);
}

/** The reason for a `clientError`: llhttp's `HPE_*` codes, node:http's timeouts, or a socket error. */
export function clientErrorReason(err: unknown): ClientErrorReason {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'aborted';
  if (code === 'HPE_HEADER_OVERFLOW' || code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 'headers_too_large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'timeout';
  if (code.startsWith('HPE_')) return 'bad_request';
  return 'aborted';
}

/**
 * Answers and closes like node:http's default: no answer on a connection that is gone, or whose
 * current response already sent its headers (an answer there would corrupt the stream).
 */
export function answerClientError(err: Error, socket: Duplex): ClientErrorReason {
  const reason = clientErrorReason(err);
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (reason !== 'aborted' && socket.writable && current?.headersSent !== true) socket.write(ANSWERS[reason]);
  socket.destroy(err);
  return reason;
}
