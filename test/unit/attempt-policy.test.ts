import { describe, expect, it } from 'vitest';
import {
  type AttemptFailure,
  type AttemptState,
  isConnectFailure,
  nextStep,
} from '../../src/data/attempt-policy.js';

const fresh: AttemptState = {
  sent: false,
  responded: false,
  idempotent: true,
  redispatches: 0,
  redispatchAttempts: 2,
  retried: false,
};
const sent = { ...fresh, sent: true };
const post = { ...fresh, idempotent: false };
const sentPost = { ...sent, idempotent: false };

describe('attempt policy (HTTP and WebSocket alike)', () => {
  it.each<[string, AttemptState, AttemptFailure, ReturnType<typeof nextStep>]>([
    [
      'refused before sending: redispatch',
      fresh,
      'refused',
      { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' },
    ],
    [
      'refused, POST too: nothing was sent',
      post,
      'refused',
      { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' },
    ],
    [
      'refused, redispatches used up: 503',
      { ...fresh, redispatches: 2 },
      'refused',
      { kind: 'answer', code: 'NO_AVAILABLE_NODE' },
    ],
    [
      'refused with redispatch off: 503',
      { ...fresh, redispatchAttempts: 0 },
      'refused',
      { kind: 'answer', code: 'NO_AVAILABLE_NODE' },
    ],
    [
      'connect timeout, GET: retry once, pin stays',
      fresh,
      'connect-timeout',
      { kind: 'retry', otherwise: 'UPSTREAM_CONNECT_TIMEOUT' },
    ],
    [
      'connect timeout, GET already retried: 504',
      { ...fresh, retried: true },
      'connect-timeout',
      { kind: 'answer', code: 'UPSTREAM_CONNECT_TIMEOUT' },
    ],
    [
      'connect timeout, POST: 504',
      post,
      'connect-timeout',
      { kind: 'answer', code: 'UPSTREAM_CONNECT_TIMEOUT' },
    ],
    ['reset after sending a GET: retry once', sent, 'reset', { kind: 'retry', otherwise: 'UPSTREAM_RESET' }],
    [
      'reset after sending a POST: 502 (its body may have had an effect)',
      sentPost,
      'reset',
      { kind: 'answer', code: 'UPSTREAM_RESET' },
    ],
    [
      'reset, GET already retried: 502',
      { ...sent, retried: true },
      'reset',
      { kind: 'answer', code: 'UPSTREAM_RESET' },
    ],
    [
      'response timeout: 504, never retried',
      sent,
      'response-timeout',
      { kind: 'answer', code: 'UPSTREAM_TIMEOUT' },
    ],
    ['bad response: 502', sent, 'bad-response', { kind: 'answer', code: 'UPSTREAM_BAD_RESPONSE' }],
    ['request undici refuses: 400', fresh, 'bad-request', { kind: 'answer', code: 'BAD_REQUEST' }],
    ['client aborted: drop, nothing to answer', sent, 'aborted', { kind: 'drop' }],
    ['failure after response bytes: cut', { ...sent, responded: true }, 'reset', { kind: 'cut' }],
    ['aborted after response bytes: drop', { ...sent, responded: true }, 'aborted', { kind: 'drop' }],
    [
      'handshake or GET on a lost node: redispatch and re-pin',
      sent,
      'node-lost',
      { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' },
    ],
    [
      'lost node, redispatches used up: 503',
      { ...sent, redispatches: 2 },
      'node-lost',
      { kind: 'answer', code: 'NO_AVAILABLE_NODE' },
    ],
    [
      'lost node, request with a body sent: 502, never replayed',
      sentPost,
      'node-lost',
      { kind: 'answer', code: 'UPSTREAM_RESET' },
    ],
    [
      'lost node, request with a body still queued: redispatch (nothing of it was read)',
      { ...sentPost, sent: false },
      'node-lost',
      { kind: 'redispatch', otherwise: 'NO_AVAILABLE_NODE' },
    ],
  ])('%s', (_name, state, failure, step) => {
    expect(nextStep(state, failure)).toEqual(step);
  });

  it.each<[AttemptFailure, boolean, boolean]>([
    ['refused', false, true],
    ['connect-timeout', false, true],
    ['reset', false, false],
    ['reset', true, false],
    ['response-timeout', true, false],
    ['node-lost', true, false],
  ])('%s (sent: %s) is passive evidence against the node: %s', (failure, wasSent, evidence) => {
    expect(isConnectFailure({ sent: wasSent }, failure)).toBe(evidence);
  });
});
