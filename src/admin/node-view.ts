/** The JSON shape of a node in `/api/nodes` and the status page. */
import type { UpstreamNode } from '../pool/upstream-node.js';

/** One node as the admin API reports it. */
export interface NodeView {
  name: string;
  url: string;
  health: string;
  /** Down because Connect's licence expired (its /__ping__ answers 402). */
  unlicensed: boolean;
  state: string;
  available: boolean;
  weight: number;
  inFlight: number;
  websockets: number;
  requests: number;
  since: string;
  sinceSeconds: number;
  lastProbe: {
    ok: boolean;
    status: number | null;
    error: string | null;
    latencyMs: number;
    at: string;
  } | null;
  clockSkewSeconds: number | null;
  version: string | null;
  outdated: boolean;
  /** Where the operator state came from: the YAML, or the API of which replica, when. */
  stateSource: { origin: 'config' | 'api'; at: string; by: string | null };
  /** Not active and holding no request or WebSocket (summed over workers): it may be stopped. */
  safeToStop: boolean;
  /** While a slow start lasts, the share of its weight the node takes of new clients (0-1). */
  slowStartShare: number | null;
}

/** Serialisable view of `node`. */
export function nodeView(node: UpstreamNode, now = Date.now()): NodeView {
  const p = node.lastProbe;
  return {
    name: node.name,
    url: node.url,
    health: node.health,
    unlicensed: node.unlicensed,
    state: node.state,
    available: node.takesNewClients(),
    weight: node.weight,
    inFlight: node.inFlight,
    websockets: node.websockets,
    requests: node.requests,
    since: new Date(node.since).toISOString(),
    sinceSeconds: Math.round((now - node.since) / 1000),
    lastProbe: p
      ? {
          ok: p.ok,
          status: p.status ?? null,
          error: p.error ?? null,
          latencyMs: p.latencyMs,
          at: new Date(p.at).toISOString(),
        }
      : null,
    clockSkewSeconds: node.clockSkewMs === undefined ? null : node.clockSkewMs / 1000,
    version: node.version ?? null,
    outdated: node.outdated,
    stateSource: {
      origin: node.stateSource.origin,
      at: new Date(node.stateSource.at).toISOString(),
      by: node.stateSource.by ?? null,
    },
    safeToStop: isSafeToStop(node.state, node.inFlight, node.websockets),
    slowStartShare: node.rampFrom === undefined ? null : Math.round(node.rampShare(now) * 100) / 100,
  };
}

/** A node may be stopped when it takes no new clients and holds no request or WebSocket. */
export function isSafeToStop(state: string, inFlight: number, websockets: number): boolean {
  return state !== 'active' && inFlight === 0 && websockets === 0;
}
