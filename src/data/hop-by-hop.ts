/**
 * Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are never forwarded.
 * `expect` is handled by node:http (100-continue) and refused by undici, so it stops here too.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/**
 * Hop-by-hop headers of a response (relayed bodies keep their framing through node:http itself).
 * `http2-settings` belongs to an HTTP/1.1 connection's upgrade and is refused by node:http2.
 */
export const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'te',
  'http2-settings',
]);

/** `HOP_LENGTH[n]` is 1 when some response hop-by-hop name is `n` characters long. */
const HOP_LENGTH = new Uint8Array(Math.max(...[...RESPONSE_HOP_BY_HOP].map((n) => n.length)) + 1);
for (const name of RESPONSE_HOP_BY_HOP) HOP_LENGTH[name.length] = 1;

/**
 * True when `name` (any case) is a response hop-by-hop header. Most names have a length no such
 * header has (Date, Content-Type, Content-Length, ETag...), and are answered without lower-casing.
 */
export function isResponseHopByHop(name: string): boolean {
  return HOP_LENGTH[name.length] === 1 && RESPONSE_HOP_BY_HOP.has(name.toLowerCase());
}

/**
 * End-to-end headers a `Connection` header may not make hop-by-hop: naming them would strip the
 * Host (the node would see undici's own), the cookies, the credentials, the framing or the
 * forwarded headers the balancer sets (RFC 9110 7.6.1 lets a proxy refuse to remove these).
 */
const END_TO_END = new Set([
  'host',
  'cookie',
  'authorization',
  'content-length',
  'content-type',
  'transfer-encoding',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-rsc-request',
]);

/**
 * Header names listed in a `Connection` header value, lower-cased, minus the common no-ops and the
 * end-to-end headers no peer may remove.
 */
export function connectionTokens(value: string): Set<string> | undefined {
  // The usual values name no extra header: answer without splitting (this runs on most responses).
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close' || v === 'upgrade') return undefined;
  }
  let tokens: Set<string> | undefined;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive' || token === 'upgrade') continue;
    if (END_TO_END.has(token)) continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

/**
 * Removes from a flat `[name, value, ...]` list (from index `from` on) every header whose lower-cased
 * name is in `names`.
 */
export function removeHeaders(headers: string[], names: ReadonlySet<string>, from = 0): void {
  for (let i = headers.length - 2; i >= from; i -= 2) {
    if (names.has(headers[i]!.toLowerCase())) headers.splice(i, 2);
  }
}

/**
 * Appends to `out` (flat `[name, value, ...]`) the headers of a node's response head `raw` that go on
 * to the client: never a hop-by-hop header, nor one the node's own `Connection` header names, nor
 * the node's `X-Request-Id` (the balancer answers with the request's id itself). `upgrade` keeps the
 * `Upgrade` and `Connection` of a 101 that the client's HTTP/1.1 handshake needs. One filter for
 * HTTP answers, WebSocket acceptances and refusals alike. Returns the head's Content-Length, or -1.
 */
export function pushNodeHeaders(out: string[], raw: readonly (string | Buffer)[], upgrade = false): number {
  const start = out.length;
  let connection: string | undefined;
  let length = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const item = raw[i]!;
    const name = typeof item === 'string' ? item : item.toString('latin1');
    if (isResponseHopByHop(name)) {
      const lower = name.toLowerCase();
      if (lower === 'connection') connection = textOf(raw[i + 1]!);
      if (upgrade && (lower === 'connection' || lower === 'upgrade')) out.push(name, textOf(raw[i + 1]!));
      continue;
    }
    if (name.length === 12 && name.toLowerCase() === 'x-request-id') continue;
    const value = textOf(raw[i + 1]!);
    if (name.length === 14 && name.toLowerCase() === 'content-length') length = Number(value);
    out.push(name, value);
  }
  const named = connection === undefined ? undefined : connectionTokens(connection);
  if (named !== undefined) removeHeaders(out, named, start);
  return length;
}

function textOf(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}
