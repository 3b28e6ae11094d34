/** Transport failures on the way to a node, classified for the attempt policy (attempt-policy.ts). */
/**
 * What went wrong on the way to an upstream, as far as the retry and redispatch rules care:
 * - `refused`: the node did not accept the connection; nothing was sent, so the node is not serving.
 * - `connect-timeout`: the connection was not established in time; proves nothing about the node.
 * - `reset`: the connection broke after (part of) the request may have been sent, before a response.
 * - `response-timeout`: the node accepted the request but sent no response headers in time.
 * - `bad-response`: the node answered with something that is not valid HTTP.
 * - `bad-request`: the request cannot be forwarded as it is (invalid header or target).
 * - `aborted`: the client went away; nothing to answer.
 * - `node-lost`: the node's connections were destroyed because the pool lost it (down, maintenance:
 *   data-plane.ts resets its connection pool) while the request waited on it.
 */
export type UpstreamFailure =
  | 'refused'
  | 'connect-timeout'
  | 'reset'
  | 'response-timeout'
  | 'bad-response'
  | 'bad-request'
  | 'aborted'
  | 'node-lost';

const REFUSED_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** Classifies a transport error from undici or node:net. */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (REFUSED_CODES.has(code)) return 'refused';
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'connect-timeout';
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'response-timeout';
    if (code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return 'aborted';
    if (code === 'UND_ERR_DESTROYED') return 'node-lost';
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED' || code === 'ERR_INVALID_CHAR')
      return 'bad-request';
    if (RESET_CODES.has(code)) return 'reset';
    if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')
      return 'bad-response';
  }
  return 'reset';
}
