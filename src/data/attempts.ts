/**
 * The one attempt loop of HTTP exchanges and WebSocket handshakes, around the pure attempt policy
 * (attempt-policy.ts): after a failed attempt, the node's passive evidence is reported (a connection
 * that never came counts against it), the policy's step is taken, and a redispatch or retry is
 * routed to another node by the router (never one the request tried). What the caller does next is
 * its own: send again, cut its client, or answer.
 */
import type { PassiveEvidence } from '../pool/node-table.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import type { AnswerCode } from './answers.js';
import { type AttemptFailure, type AttemptState, isConnectFailure, nextStep } from './attempt-policy.js';
import type { Route } from './router.js';
import type { Runtime } from './runtime.js';

/** What follows a failed attempt. */
export type AfterFailure =
  /** The client went away: nothing more to do. */
  | { readonly kind: 'drop' }
  /** Response bytes already went out: cut the client's side. */
  | { readonly kind: 'cut' }
  /** Send the request again, to `node`. */
  | { readonly kind: 'again'; readonly node: UpstreamNode }
  /** Answer the client with `code`. */
  | { readonly kind: 'answer'; readonly code: AnswerCode };

const DROP: AfterFailure = { kind: 'drop' };
const CUT: AfterFailure = { kind: 'cut' };

/** How far an attempt got: what the route and the settings do not say. */
export type AttemptProgress = Pick<AttemptState, 'sent' | 'responded' | 'idempotent'>;

/** The step after an attempt on `node`, routed by `route`, failed with `failure` having got `progress` far. */
export function afterFailure(
  evidence: PassiveEvidence,
  runtime: Runtime,
  route: Route,
  node: UpstreamNode,
  progress: AttemptProgress,
  failure: AttemptFailure,
): AfterFailure {
  const state: AttemptState = {
    ...progress,
    redispatches: route.redispatches,
    redispatchAttempts: runtime.settings.routing.redispatchAttempts,
    retried: route.retried,
  };
  if (isConnectFailure(state, failure)) {
    node.stats.connectErrors++;
    evidence.reportConnectFailure(node);
  }
  const step = nextStep(state, failure);
  switch (step.kind) {
    case 'drop':
      return DROP;
    case 'cut':
      return CUT;
    case 'redispatch':
    case 'retry': {
      const next = runtime.router.reroute(route, step.kind, node);
      return next === undefined ? { kind: 'answer', code: step.otherwise } : { kind: 'again', node: next };
    }
    case 'answer':
      return { kind: 'answer', code: step.code };
  }
}

/** Safe to send twice (RFC 9110 9.2.2) with nothing to replay: GET, HEAD or OPTIONS without a body. */
export function isIdempotent(method: string | undefined, hasBody: boolean): boolean {
  return (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') && !hasBody;
}
