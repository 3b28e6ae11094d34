/**
 * The admin HTTP server, on its own listener: liveness, readiness, Prometheus metrics, the node API
 * (read, drain, maintenance, activate), reload, and the status page. The proxy port never serves
 * any of these paths.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { OperatorState } from '../../config/schema.js';
import { StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Pool } from '../../pool/pool.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { checkBearer } from './auth.js';
import { failingContentsOf, type NodeView, nodeView } from './node-view.js';
import { statusPage } from './status-page.js';

/** Result of a reload request, as the admin API reports it. */
export type ReloadOutcome = { ok: true } | { ok: false; problems: readonly string[] };

/** What the admin server reads and controls. */
export interface AdminDeps {
  readonly pool: Pool;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** True while the balancer is shutting down (readiness fails at once). */
  isShuttingDown(): boolean;
  /** Why the balancer is not ready yet besides node health (starting, no worker), or undefined. */
  notReady?(): string | undefined;
  /** The last 15 minutes of traffic and events (GET /api/history). */
  history?(): unknown;
  /** Sets a node's operator state (may be shared; rejects with code STATE_STORE_UNAVAILABLE). */
  changeState(node: UpstreamNode, state: OperatorState): Promise<void>;
  /** Gives `node` back the contents ejected from it (rule 13), on every replica with a shared store. */
  clearEjections(node: UpstreamNode): Promise<string[]>;
  /** Current tokens and allowed Host names (reloadable). */
  access(): AdminAccess;
  reload(): Promise<ReloadOutcome>;
  /** The nodes as /api/nodes shows them (default: this process's pool). */
  nodes?(): Promise<NodeView[]>;
  /** Open deploy tasks of a node (default none). */
  openTasks?(name: string): number;
  /** Prometheus text for /metrics (default: this process's registry). */
  metricsText?(): Promise<string>;
}

/** Who may use the admin server (`admin.*`). */
export interface AdminAccess {
  /** Bearer token for changes (and for reads when `readToken` is set); none: changes refused. */
  readonly token?: string | undefined;
  /** Bearer token for /metrics and /api/nodes; none: reads are open (liveness and readiness always are). */
  readonly readToken?: string | undefined;
  /** Host names answered besides IP literals and `localhost` (DNS rebinding guard). */
  readonly allowedHosts: readonly string[];
}

const ACTIONS: Record<string, OperatorState> = {
  drain: 'draining',
  maintenance: 'maintenance',
  activate: 'active',
};

/** Creates (does not start) the admin server. */
export function createAdminServer(deps: AdminDeps): Server {
  const server = createServer((req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      deps.logger.error({ err, path: req.url }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  return server;
}

async function handle(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const method = req.method ?? 'GET';
  // A page on another site can make a browser send requests here by rebinding its own DNS name to
  // this address: such requests carry that name as Host, so only known names are answered.
  if (!hostAllowed(req.headers.host, deps.access().allowedHosts)) {
    return json(res, 421, {
      error: 'this admin server does not answer for that Host; add it to admin.allowedHosts',
    });
  }
  if (method === 'GET' || method === 'HEAD') return read(deps, req, res, path);
  if (method === 'POST') return change(deps, req, res, path);
  res.setHeader('allow', 'GET, HEAD, POST');
  return json(res, 405, { error: 'method not allowed' });
}

/** GET and HEAD: probes, metrics, the node views and the status page. */
async function read(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  if (path === '/healthz') return json(res, 200, { status: 'ok' });
  if (path === '/readyz') return ready(deps, res);
  const { readToken, token } = deps.access();
  if (readToken !== undefined && path !== '/' && path !== '/status') {
    const read = checkBearer(req, readToken);
    if (read !== 'ok' && checkBearer(req, token) !== 'ok') return unauthorized(res, read);
  }
  switch (path) {
    case '/metrics': {
      const body = deps.metricsText ? await deps.metricsText() : await deps.metrics.text();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    case '/api/history':
      return json(res, 200, deps.history?.() ?? { samples: [], events: [] });
    case '/api/nodes':
      return json(res, 200, await views(deps));
    case '/':
    case '/status':
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
      });
      res.end(statusPage());
      return;
  }
  const one = /^\/api\/nodes\/([^/]+)$/.exec(path);
  if (one === null) return json(res, 404, { error: 'not found' });
  const name = safeDecode(one[1]!);
  const view = (await views(deps)).find((v) => v.name === name);
  return view ? json(res, 200, view) : json(res, 404, { error: `no node named ${one[1]}` });
}

function ready(deps: AdminDeps, res: ServerResponse): void {
  const reason = deps.isShuttingDown()
    ? 'shutting down'
    : (deps.notReady?.() ?? (deps.pool.anyUp() ? undefined : 'no upstream node is up'));
  const ok = reason === undefined;
  json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', reason: reason ?? 'ok' });
}

/** Every node's view: summed over workers in cluster mode (deps.nodes), else this process's. */
async function views(deps: AdminDeps): Promise<NodeView[]> {
  if (deps.nodes) return deps.nodes();
  return deps.pool.nodes.map((n) =>
    nodeView(n, Date.now(), deps.openTasks?.(n.name), failingContentsOf(deps.pool, n.name)),
  );
}

/** POST: a reload, or a node's operator state (admin.token required). */
async function change(
  deps: AdminDeps,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const action = /^\/api\/nodes\/([^/]+)\/(drain|maintenance|activate|clear-ejections)$/.exec(path);
  if (action === null && path !== '/api/reload') return json(res, 404, { error: 'not found' });
  req.resume();
  const auth = checkBearer(req, deps.access().token);
  if (auth === 'disabled') {
    return json(res, 403, {
      error: 'admin API changes are disabled: set admin.token in the configuration to enable them',
    });
  }
  if (auth !== 'ok') return unauthorized(res, auth);
  if (action === null) {
    const outcome = await deps.reload();
    return outcome.ok
      ? json(res, 200, { result: 'reloaded' })
      : json(res, 400, { result: 'rejected', problems: outcome.problems });
  }
  const node = deps.pool.get(safeDecode(action[1]!));
  if (node === undefined) return json(res, 404, { error: `no node named ${action[1]}` });
  if (action[2] === 'clear-ejections') {
    // Rule 13: an admin who mended an app on this node gives it its sessions back at once.
    const cleared = await deps.clearEjections(node);
    deps.logger.info(
      { upstream: node.name, contents: cleared },
      'content ejections cleared through admin API',
    );
    return json(res, 200, { cleared });
  }
  const state = ACTIONS[action[2]!]!;
  try {
    await deps.changeState(node, state);
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    return json(res, 503, {
      error: 'the shared state store is unreachable: nothing was changed on any replica',
      code: err.code,
    });
  }
  deps.logger.info({ upstream: node.name, state }, 'node state set through admin API');
  return json(
    res,
    200,
    nodeView(node, Date.now(), deps.openTasks?.(node.name), failingContentsOf(deps.pool, node.name)),
  );
}

function unauthorized(res: ServerResponse, auth: string): void {
  res.setHeader('www-authenticate', 'Bearer realm="stickylb"');
  json(res, 401, { error: auth === 'wrong' ? 'wrong token' : 'missing bearer token' });
}

/** IP literals, `localhost` and the listed names (any case, any port). */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (host === undefined) return true;
  const name = (
    host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '')
  ).toLowerCase();
  if (isIP(name) !== 0 || name === 'localhost') return true;
  return allowed.some((a) => a.toLowerCase() === name);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** A path segment decoded, or as it is when its percent-encoding is malformed (then no node matches). */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
