/**
 * Responses the balancer writes itself (no node, upstream failure): a short HTML page for browsers,
 * JSON for API clients (by `Accept`, or any `/__api__/` path), `Retry-After` on 503.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  413: 'Request body too large',
  431: 'Request headers too large',
  501: 'Not implemented',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
  505: 'HTTP version not supported',
};

const DETAILS: Record<number, string> = {
  400: 'The request could not be forwarded.',
  413: 'The request body is larger than this service accepts.',
  501: 'This load balancer does not support the request method.',
  502: 'The server behind the load balancer failed to answer this request.',
  503: 'No server is available to handle this request right now. Please try again in a few seconds.',
  504: 'The server behind the load balancer did not answer in time.',
  505: 'This load balancer speaks HTTP/1.0, HTTP/1.1 and WebSocket.',
};

/** Body and content type of an error response for `req`. */
export function errorBody(
  req: IncomingMessage,
  status: number,
  code: string,
): { type: string; body: string } {
  const accept = req.headers.accept ?? '';
  const title = TITLES[status] ?? 'Error';
  const detail = DETAILS[status] ?? title;
  const wantsJson =
    req.url?.startsWith('/__api__/') === true ||
    (accept.includes('application/json') && !accept.includes('text/html')) ||
    (accept !== '' && !accept.includes('text/html') && !accept.includes('*/*'));
  if (wantsJson) {
    return { type: 'application/json', body: JSON.stringify({ error: { code, status, message: detail } }) };
  }
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status} ${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{color:#666}</style></head><body><h1>${title}</h1><p>${detail}</p><p><code>${code}</code></p></body></html>`;
  return { type: 'text/html; charset=utf-8', body };
}

/** Writes an error response, unless headers already went out (then the connection is cut). */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  retryAfterSeconds: number,
  extraHeaders?: readonly string[],
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { type, body } = errorBody(req, status, code);
  const headers: string[] = [
    'Content-Type',
    type,
    'Content-Length',
    String(Buffer.byteLength(body)),
    'Cache-Control',
    'no-store',
    'X-Stickylb-Error',
    code,
  ];
  if (status === 503) headers.push('Retry-After', String(retryAfterSeconds));
  if (extraHeaders) headers.push(...extraHeaders);
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Writes an error response on a raw socket (failed WebSocket handshake) and closes it. */
export function sendSocketError(
  req: IncomingMessage,
  socket: Duplex,
  status: number,
  code: string,
  retryAfterSeconds: number,
): void {
  if (socket.destroyed) return;
  const { type, body } = errorBody(req, status, code);
  const lines = [
    `HTTP/1.1 ${status} ${TITLES[status] ?? 'Error'}`,
    `Content-Type: ${type}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    `X-Stickylb-Error: ${code}`,
    'Connection: close',
  ];
  if (status === 503) lines.push(`Retry-After: ${retryAfterSeconds}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
