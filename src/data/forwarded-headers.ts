/**
 * The request headers sent upstream, built in one pass over the client's raw headers: hop-by-hop
 * headers and the affinity cookie removed (rule 7), `Host` preserved, `X-Forwarded-*` and
 * `X-RSC-Request` (the absolute URL the client asked for, which Connect uses) set. Client copies of
 * the forwarded headers are dropped unless the peer is a trusted proxy, whose values are kept and
 * whose `X-Forwarded-For` is extended.
 */
import type { BlockList } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { takeCookie } from '../affinity/cookie-header.js';
import { isNavigation } from '../affinity/placement.js';
import { StickyError } from '../errors.js';
import { connectionTokens, HOP_BY_HOP, removeHeaders } from './hop-by-hop.js';
import { proxiedPeer } from './proxy-protocol.js';
import type { RequestHead } from './request-head.js';
import { acceptRequestId, newRequestId, nextTraceparent } from './trace-context.js';

/** What the proxy learns from the request headers. */
export interface ForwardedRequest {
  /** Flat `[name, value, ...]` list for the upstream request. */
  readonly headers: string[];
  /** Values of the affinity cookie, in order. */
  readonly affinityValues: string[];
  /** Values of the content pin cookie (rule 11), in order. */
  readonly contentValues: string[];
  /** The outgoing balancer's cookies (rule 14): `[cookie name, value]`, in order; removed upstream. */
  readonly adoptedValues: ReadonlyArray<readonly [string, string]>;
  /** A page load (rule 11: `Sec-Fetch-*`, or an `Accept` naming text/html). */
  readonly navigation: boolean;
  /** The client side is HTTPS (directly, or per a trusted proxy). */
  readonly secure: boolean;
  /** True when the request has a body (Content-Length > 0 or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** Declared Content-Length, or -1. */
  readonly contentLength: number;
  /** The request target in origin-form, as sent upstream. */
  readonly path: string;
  /** `X-Request-Id` sent upstream and answered to the client. */
  readonly requestId: string;
  /** `traceparent` sent upstream (the client's trace continued, or a new one). */
  readonly traceparent: string;
  /** The client's `traceparent`, as received (undefined for none or several). */
  readonly parentTraceparent: string | undefined;
  /** `performance.now()` when the request's head was read: the start of its duration and span. */
  readonly received: number;
}

/** Static per-listener context. */
export interface ForwardContext {
  readonly cookieName: string;
  /** The content pin's cookie name (removed upstream like the affinity cookie). */
  readonly contentCookieName: string;
  /** The outgoing balancer's cookie names (rule 14; none: empty), removed upstream like stickylb's. */
  readonly adoptCookies: readonly string[];
  readonly trusted: BlockList | undefined;
  /** With tracing on: the share of new traces sampled (their `traceparent` flag). */
  readonly sampleRatio?: number | undefined;
}

const NO_ADOPTED: Array<readonly [string, string]> = [];

const HOST_SHAPE = /^[A-Za-z0-9._~!$&'()*+,;=:[\]%-]+$/;
/** A DNS name (253), a colon and a port. */
const MAX_HOST_LENGTH = 260;
const IPV4_MAPPED = '::ffff:';

/**
 * A request no node should see: answered 400 with `code` (RFC 9112 section 3.2: an invalid Host, a
 * request target in none of the forms a server accepts).
 */
export class BadRequestError extends StickyError {
  /** The answer the client gets. */
  declare readonly code: BadRequestCode;
  constructor(code: BadRequestCode, message: string) {
    super(code, message, 400);
    this.name = 'BadRequestError';
  }
}

/** The answers (answers.ts) of requests refused before routing. */
type BadRequestCode = 'INVALID_HOST' | 'INVALID_TARGET' | 'HOST_MISMATCH';

/**
 * Builds the upstream header list for `req`. `handshake`: a WebSocket handshake, which has no body and
 * whose `Connection: upgrade` and `Upgrade` undici writes itself (the `upgrade` dispatch option).
 * Throws `BadRequestError` for a Host header or request target that must be refused.
 */
export function forwardRequestHeaders(
  req: RequestHead,
  ctx: ForwardContext,
  handshake: boolean,
): ForwardedRequest {
  const raw = req.rawHeaders;
  const socket = req.socket;
  let peer = proxiedPeer(socket)?.address ?? socket.remoteAddress ?? '';
  if (peer.startsWith(IPV4_MAPPED)) peer = peer.slice(IPV4_MAPPED.length);
  const trusted = ctx.trusted !== undefined && peer !== '' && isTrusted(ctx.trusted, peer);
  const tlsClient = (socket as TLSSocket).encrypted === true;

  const headers: string[] = [];
  let affinityValues: string[] = [];
  let contentValues: string[] = [];
  let adoptedValues: Array<readonly [string, string]> = NO_ADOPTED;
  let fetchMode: string | undefined;
  let fetchDest: string | undefined;
  let accept: string | undefined;
  let host: string | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let xfPort: string | undefined;
  let contentLength = -1;
  let chunked = false;
  let connection: string | undefined;
  let requestId: string | undefined;
  let traceparent: string | undefined;

  let authority: string | undefined;
  let cookies: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    // HTTP/2 pseudo-headers (RFC 9113 8.3): none goes upstream; `:authority` stands for Host.
    if (name.charCodeAt(0) === 58) {
      if (name === ':authority') authority = value;
      continue;
    }
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'connection')
        connection = connection === undefined ? value : `${connection},${value}`;
      continue;
    }
    switch (lower) {
      case 'host':
        // RFC 9113 8.3.1: over HTTP/2 the node's Host comes from `:authority` (sent before any
        // header), never from a `host` field the client added beside it (issue 22.8).
        if (authority !== undefined) continue;
        if (host !== undefined) throw new BadRequestError('INVALID_HOST', 'more than one Host header');
        host = value;
        break;
      case 'cookie': {
        // One Cookie field upstream (RFC 9113 8.2.3: an HTTP/2 client may split it into several).
        let field: string | undefined = value;
        // Rule 14: the outgoing balancer's cookies are read, and kept from the node like stickylb's.
        for (const adopt of ctx.adoptCookies) {
          if (field === undefined || !field.includes(adopt)) continue;
          const taken = takeCookie(field, adopt);
          if (taken.values.length === 0) continue;
          if (adoptedValues === NO_ADOPTED) adoptedValues = [];
          for (const v of taken.values) adoptedValues.push([adopt, v]);
          field = taken.rest;
        }
        if (field === undefined) continue;
        if (!field.includes(ctx.cookieName)) {
          cookies = cookies === undefined ? field : `${cookies}; ${field}`;
          continue;
        }
        const { values, secondValues, rest } = takeCookie(field, ctx.cookieName, ctx.contentCookieName);
        if (values.length > 0)
          affinityValues = affinityValues.length === 0 ? values : affinityValues.concat(values);
        if (secondValues.length > 0)
          contentValues = contentValues.length === 0 ? secondValues : contentValues.concat(secondValues);
        if (rest !== undefined) cookies = cookies === undefined ? rest : `${cookies}; ${rest}`;
        continue;
      }
      case 'content-length':
        contentLength = Number(value);
        break;
      case 'sec-fetch-mode':
        fetchMode = value;
        break;
      case 'sec-fetch-dest':
        fetchDest = value;
        break;
      case 'accept':
        accept = value;
        break;
      case 'x-forwarded-for':
        if (trusted) xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        if (trusted) xfProto = value.split(',')[0]!.trim().toLowerCase();
        continue;
      case 'x-forwarded-host':
        if (trusted) xfHost = value.split(',')[0]!.trim();
        continue;
      case 'x-forwarded-port':
        if (trusted) xfPort = value.split(',')[0]!.trim();
        continue;
      case 'x-rsc-request':
        continue;
      case 'x-request-id':
        if (trusted && requestId === undefined) requestId = acceptRequestId(value);
        continue;
      case 'traceparent':
        traceparent = traceparent === undefined ? value : '';
        continue;
    }
    headers.push(name, value);
  }

  if (cookies !== undefined) headers.push('Cookie', cookies);
  if (host === undefined && authority !== undefined) {
    host = authority;
    headers.push('Host', authority);
  }
  // Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1); rare beyond keep-alive/close.
  const named = connection === undefined ? undefined : connectionTokens(connection);
  if (named !== undefined) removeHeaders(headers, named);

  // An empty Host is allowed (RFC 9112 3.2: a target with no authority); an invalid one is not, nor
  // a missing one on an HTTP/1.1 upgrade (node:http requires it of requests, not of upgrades).
  if (host === undefined && handshake && req.httpVersionMinor === 1)
    throw new BadRequestError('INVALID_HOST', 'no Host header');
  const clientHost = validHost(host);
  if (clientHost === undefined && host !== undefined && host.trim() !== '')
    throw new BadRequestError('INVALID_HOST', 'invalid Host header');
  const path = originForm(req.url, clientHost);
  const proto = xfProto === 'https' || xfProto === 'http' ? xfProto : tlsClient ? 'https' : 'http';
  const localPort = String(socket.localPort ?? '');
  const publicHost = validHost(xfHost) ?? clientHost ?? hostForAddress(socket.localAddress, localPort);
  requestId ??= newRequestId();
  // Two traceparent headers are invalid (W3C trace context 3.2): a new trace, as for none.
  const nextTrace = nextTraceparent(traceparent === '' ? undefined : traceparent, ctx.sampleRatio);
  headers.push(
    'X-Request-Id',
    requestId,
    'Traceparent',
    nextTrace,
    'X-Forwarded-For',
    xff === undefined ? peer : `${xff}, ${peer}`,
    'X-Forwarded-Proto',
    proto,
    'X-Forwarded-Host',
    publicHost,
    'X-Forwarded-Port',
    xfPort ?? portOf(publicHost) ?? localPort,
    'X-RSC-Request',
    `${proto}://${publicHost}${path}`,
  );
  return {
    headers,
    affinityValues,
    contentValues,
    adoptedValues,
    navigation: isNavigation(fetchMode, fetchDest, accept),
    secure: proto === 'https',
    // An HTTP/2 request has a body unless its headers ended the stream (a length is optional there);
    // an extended CONNECT's stream carries the WebSocket's frames, not a body.
    hasBody: !handshake && (chunked || contentLength > 0 || req.stream?.endAfterHeaders === false),
    contentLength,
    path,
    requestId,
    traceparent: nextTrace,
    parentTraceparent: traceparent === '' ? undefined : traceparent,
    received: performance.now(),
  };
}

function isTrusted(list: BlockList, address: string): boolean {
  return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
}

/** Last Host value checked and its verdict: nearly every request on a listener carries the same one. */
let lastHost: string | undefined;
let lastValid: string | undefined;

function validHost(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === lastHost) return lastValid;
  const trimmed = value.trim();
  lastValid =
    trimmed !== '' && trimmed.length <= MAX_HOST_LENGTH && HOST_SHAPE.test(trimmed) ? trimmed : undefined;
  lastHost = value;
  return lastValid;
}

function hostForAddress(address: string | undefined, port: string): string {
  const addr = address ?? '127.0.0.1';
  return `${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
}

/** Last host whose port was read, and that port: like `validHost`, nearly always the same host. */
let lastPortHost: string | undefined;
let lastPort: string | undefined;

function portOf(host: string): string | undefined {
  if (host === lastPortHost) return lastPort;
  lastPort = /:(\d{1,5})$/.exec(host)?.[1];
  lastPortHost = host;
  return lastPort;
}

/**
 * The request target in origin-form (`/path?query`), as sent upstream. An absolute-form target
 * (`http://host/path`) is reduced to it, and its authority must be the Host header's, as HAProxy
 * requires (RFC 9112 section 3.2.2 lets the two disagree; a balancer that followed one while the node
 * followed the other could be steered). Anything else (`*`, authority-form, a bare word) is refused:
 * undici sends only origin-form, and rewriting it to `/` would serve a different resource.
 */
export function originForm(url: string | undefined, host: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.startsWith('/')) return url;
  if (/^https?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new BadRequestError('INVALID_TARGET', 'unparsable absolute request target');
    }
    if (host !== undefined && parsed.host !== authority(parsed.protocol, host)) {
      throw new BadRequestError('HOST_MISMATCH', 'absolute request target names another host than Host');
    }
    return parsed.pathname + parsed.search;
  }
  throw new BadRequestError('INVALID_TARGET', 'request target is not in origin or absolute form');
}

/** `host` normalised the way URL normalises an authority (lower case, no default port). */
function authority(protocol: string, host: string): string | undefined {
  try {
    return new URL(`${protocol}//${host}`).host;
  } catch {
    return undefined;
  }
}
