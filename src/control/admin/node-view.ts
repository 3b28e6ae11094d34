/** The JSON shape of a node in `/api/nodes` and the status page. */
import type { NodeTable } from '../../pool/node-table.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';

/** Contents ejected from one node at once that flag it `degraded` (rule 13: an admin decides). */
export const DEGRADED_CONTENTS = 2;

/** A content failing on a node (rule 13), as the admin API shows it. */
export interface FailingContentView {
  content: string;
  /** Its name in Connect's content list (with `connect.apiKey`), else null. */
  name: string | null;
  /** Its vanity path (with `connect.apiKey`), else null. */
  path: string | null;
  /** Consecutive failed page loads or handshakes now. */
  failures: number;
  /** Ejections in a row (each lasts longer). */
  ejections: number;
  since: string;
  /** When the ejection ends and one trial session is sent; null while not ejected. */
  nextTrial: string | null;
}

/** The contents failing on `node` in `pool` (rule 13), most recent trouble first. */
export function failingContentsOf(pool: NodeTable, node: string): FailingContentView[] {
  const paths = new Map<string, string>();
  for (const [path, guid] of pool.vanity) if (!paths.has(guid)) paths.set(guid, path);
  return pool.contentHealth
    .failing(node)
    .sort((a, b) => b.since - a.since)
    .map((f) => ({
      content: f.content,
      name: pool.contentNames.get(f.content) ?? null,
      path: paths.get(f.content) ?? null,
      failures: f.failures,
      ejections: f.ejections,
      since: new Date(f.since).toISOString(),
      nextTrial: f.ejectedUntil === undefined ? null : new Date(f.ejectedUntil).toISOString(),
    }));
}

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
  /** Deploy tasks seen to start on this node and not yet seen to finish (the fleet's, when shared). */
  openTasks: number;
  /** Not active, holding no request, WebSocket or deploy task (summed over workers): it may be stopped. */
  safeToStop: boolean;
  /** What it still holds before it is safe to stop (empty when it is). */
  waitingFor: string[];
  /** What Connect runs on the node (with `connect.apiKey`): processes, their memory, jobs. */
  connect: { processes: number; ramBytes: number; jobs: number } | null;
  /** The contents with the most open sessions on the node (summed over workers), most first. */
  busiestContents: Array<{ content: string; sessions: number }>;
  /** While a slow start lasts, the share of its weight the node takes of new clients (0-1). */
  slowStartShare: number | null;
  /** Contents failing on this node while it is fine (rule 13), ejected or on their way to it. */
  failingContents: FailingContentView[];
  /** Several contents ejected from it at once: something of the node's own (an admin decides). */
  degraded: boolean;
}

/**
 * Serialisable view of `node`; `openTasks` from the control plane's tracker, `failing` from the
 * pool's content health (failingContentsOf).
 */
export function nodeView(
  node: UpstreamNode,
  now = Date.now(),
  openTasks = 0,
  failing: FailingContentView[] = [],
): NodeView {
  const procs = node.connectProcs;
  const waiting = waitingFor(node.state, node.inFlight, node.websockets, openTasks, procs?.jobs ?? 0);
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
    openTasks,
    connect:
      procs === undefined ? null : { processes: procs.total, ramBytes: procs.ramBytes, jobs: procs.jobs },
    busiestContents: node.busiestContents(),
    safeToStop: waiting.length === 0,
    waitingFor: waiting,
    slowStartShare: node.ramping(now) ? Math.round(node.rampShare(now) * 100) / 100 : null,
    failingContents: failing,
    degraded:
      failing.filter((f) => f.nextTrial !== null && Date.parse(f.nextTrial) > now).length >=
      DEGRADED_CONTENTS,
  };
}

/**
 * What keeps a node from being safe to stop: taking new clients, requests in flight, WebSockets,
 * open deploy tasks (stopping a node fails the deploys it builds). Empty: it may be stopped.
 */
export function waitingFor(
  state: string,
  inFlight: number,
  websockets: number,
  openTasks: number,
  connectJobs = 0,
): string[] {
  const waiting: string[] = [];
  if (state === 'active') waiting.push('new clients (it is active: drain it first)');
  if (inFlight > 0) waiting.push(`${inFlight} request${inFlight === 1 ? '' : 's'} in flight`);
  if (websockets > 0) waiting.push(`${websockets} WebSocket${websockets === 1 ? '' : 's'}`);
  if (openTasks > 0) waiting.push(`${openTasks} deploy task${openTasks === 1 ? '' : 's'}`);
  if (connectJobs > 0)
    waiting.push(`${connectJobs} Connect job${connectJobs === 1 ? '' : 's'} (renders, builds)`);
  return waiting;
}
