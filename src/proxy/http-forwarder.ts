/**
 * The `request` listener of the proxy: reads the forwarded headers and the affinity cookie, applies
 * the sticky decision, answers what no node needs to see (400, 413, 503) and hands the rest to an
 * `Exchange` (exchange.ts), which forwards it under the retry rules.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { sendError, sendSocketError } from './error-response.js';
import { Exchange } from './exchange.js';
import {
  BadRequestError,
  type ForwardContext,
  type ForwardedRequest,
  forwardRequestHeaders,
} from './forwarded-headers.js';
import type { Router } from './router.js';
import type { UpstreamClients } from './upstream-clients.js';

/** Settings the forwarder reads per request; replaced as a whole on reload. */
export interface ForwarderSettings extends ForwardContext {
  readonly redispatchAttempts: number;
  readonly retryAfterSeconds: number;
  /** 0: no limit. */
  readonly maxBodySize: number;
  /** Connections per node (0: no cap); above it requests queue in the node's pool. */
  readonly upstreamConnections: number;
  /** Longest wait in that queue before a 503 (0: no limit). */
  readonly queueTimeoutMs: number;
  readonly accessLog: boolean;
}

/** Everything the forwarder needs, injected by the composition root. */
export interface ForwarderDeps {
  readonly pool: Pool;
  readonly router: Router;
  readonly clients: UpstreamClients;
  readonly metrics: Metrics;
  readonly logger: Logger;
  settings: ForwarderSettings;
}

/** Forwards plain HTTP requests. */
export class HttpForwarder {
  readonly deps: ForwarderDeps;

  constructor(deps: ForwarderDeps) {
    this.deps = deps;
  }

  /** The `request` listener for the proxy server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const settings = this.deps.settings;
    if (req.httpVersionMajor !== 1) {
      // HTTP/0.9 (`GET /path` with no version): no headers, no Host; refused like HAProxy does.
      this.#reply(req, res, undefined, 505, 'HTTP_VERSION_NOT_SUPPORTED', true);
      return;
    }
    if (req.url === '*' && req.method === 'OPTIONS') {
      // About the server as a whole: answered as Go's net/http (Connect) answers it.
      res.writeHead(200, ['Content-Length', '0']).end();
      this.deps.metrics.countResponse(undefined, 200, 0);
      return;
    }
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(req, settings, false);
    } catch (err) {
      this.deps.logger.debug({ err, url: req.url }, 'unforwardable request');
      this.#reply(req, res, undefined, 400, err instanceof BadRequestError ? err.code : 'BAD_REQUEST');
      return;
    }
    if (settings.maxBodySize > 0 && fwd.contentLength > settings.maxBodySize) {
      this.#reply(req, res, undefined, 413, 'BODY_TOO_LARGE', true);
      return;
    }
    const route = this.deps.router.route(fwd.affinityValues);
    if (route === undefined) {
      this.#reply(req, res, undefined, 503, 'NO_AVAILABLE_NODE');
      return;
    }
    new Exchange(this.deps, req, res, fwd, route).start();
  };

  /**
   * The `connect` listener: stickylb is a gateway, not a forward proxy. Without this listener
   * node:http closes the connection with no answer.
   */
  readonly refuseConnect = (req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', ignore);
    sendSocketError(req, socket, 501, 'METHOD_NOT_SUPPORTED', 0);
    this.deps.metrics.countResponse(undefined, 501, 0);
  };

  #reply(
    req: IncomingMessage,
    res: ServerResponse,
    node: UpstreamNode | undefined,
    status: number,
    code: string,
    close = false,
  ): void {
    sendError(
      req,
      res,
      status,
      code,
      this.deps.settings.retryAfterSeconds,
      close ? ['Connection', 'close'] : undefined,
    );
    this.deps.metrics.countResponse(node, status, 0);
  }
}

function ignore(): void {}
