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
import type { Route, Router } from './router.js';

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

/** The step after an attempt on `node` failed with `failure` in `state`. */
export function afterFailure(
  evidence: PassiveEvidence,
  router: Router,
  route: Route,
  node: UpstreamNode,
  state: AttemptState,
  failure: AttemptFailure,
): AfterFailure {
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
      const next = router.reroute(route, step.kind, node);
      return next === undefined ? { kind: 'answer', code: step.otherwise } : { kind: 'again', node: next };
    }
    case 'answer':
      return { kind: 'answer', code: step.code };
  }
}
