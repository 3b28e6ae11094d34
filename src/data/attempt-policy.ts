/**
 * The one retry / redispatch / answer policy for HTTP requests and WebSocket handshakes alike
 * (docs/design.md, failure handling), a pure function of the attempt so far and how it failed:
 * - nothing reached the node and it refused the connection, or the node was lost (marked down, put in
 *   maintenance) while the request waited on it: the node is not serving, so the request goes to
 *   another node and the answer re-pins the client there (HAProxy's `option redispatch`), at most
 *   `redispatchAttempts` times; a request that may have reached a lost node goes elsewhere only when
 *   it is safe to send twice (a handshake, a GET), else it is answered 502;
 * - connect timeout: no proof the node lost its sessions; an idempotent request may be served by
 *   another node once, the pin stays;
 * - the connection broke after the request went out, before a response: an idempotent request
 *   without a body is retried once elsewhere (RFC 9110 section 9.2.2), anything else is answered;
 * - once response bytes reached the client nothing is retried: the client connection is cut.
 */
import type { AnswerCode } from './answers.js';
import type { UpstreamFailure } from './upstream-failure.js';

/** How an attempt failed (upstream-failure.ts). */
export type AttemptFailure = UpstreamFailure;

/** What is known about a request when one of its attempts fails. */
export interface AttemptState {
  /** Bytes of the request may have reached the node (it accepted the connection). */
  readonly sent: boolean;
  /** Response bytes already went to the client. */
  readonly responded: boolean;
  /** GET, HEAD or OPTIONS without a body: safe to send twice. */
  readonly idempotent: boolean;
  /** Redispatches made so far, and the most allowed (`failover.redispatchAttempts`). */
  readonly redispatches: number;
  readonly redispatchAttempts: number;
  /** The one idempotent retry was used. */
  readonly retried: boolean;
}

/** What to do next. `redispatch` and `retry` carry the answer to give when no other node is available. */
export type AttemptStep =
  | { readonly kind: 'drop' }
  | { readonly kind: 'cut' }
  | { readonly kind: 'redispatch'; readonly otherwise: AnswerCode }
  | { readonly kind: 'retry'; readonly otherwise: AnswerCode }
  | { readonly kind: 'answer'; readonly code: AnswerCode };

const DROP: AttemptStep = { kind: 'drop' };
const CUT: AttemptStep = { kind: 'cut' };

/** The next step after an attempt in `state` failed with `failure`. */
export function nextStep(state: AttemptState, failure: AttemptFailure): AttemptStep {
  if (failure === 'aborted') return DROP;
  if (state.responded) return CUT;
  const canRedispatch = state.redispatches < state.redispatchAttempts;
  if (failure === 'refused' && !state.sent) {
    return canRedispatch
      ? { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' }
      : { kind: 'answer', code: 'NO_AVAILABLE_NODE' };
  }
  if (failure === 'node-lost' && (!state.sent || state.idempotent)) {
    // The client moves with its request: nothing of it reached the node, or sending it twice is safe.
    return canRedispatch
      ? { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' }
      : { kind: 'answer', code: 'NO_AVAILABLE_NODE' };
  }
  const code = answerFor(failure);
  const retryable = state.idempotent && !state.retried;
  if (retryable && ((failure === 'connect-timeout' && !state.sent) || failure === 'reset')) {
    return { kind: 'retry', otherwise: code };
  }
  return { kind: 'answer', code };
}

/**
 * True when the failure is passive evidence against the node: it did not accept a connection (the
 * pool counts these and may mark the node down before the next probe).
 */
export function isConnectFailure(state: Pick<AttemptState, 'sent'>, failure: AttemptFailure): boolean {
  return !state.sent && (failure === 'refused' || failure === 'connect-timeout');
}

/** The answer for a failure that is not retried: timeouts are 504, the rest 502 (Caddy's `statusError`). */
function answerFor(failure: UpstreamFailure): AnswerCode {
  switch (failure) {
    case 'refused':
      return 'UPSTREAM_REFUSED';
    case 'connect-timeout':
      return 'UPSTREAM_CONNECT_TIMEOUT';
    case 'response-timeout':
      return 'UPSTREAM_TIMEOUT';
    case 'bad-response':
      return 'UPSTREAM_BAD_RESPONSE';
    case 'bad-request':
      return 'BAD_REQUEST';
    default:
      return 'UPSTREAM_RESET';
  }
}
