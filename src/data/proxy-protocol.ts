/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2) on the proxy listener, for replicas behind an
 * L4 balancer (an AWS NLB, a TCP load balancer) that would otherwise hide the client's address. With
 * `listen.proxyProtocol` every connection must start with the header, like HAProxy's `accept-proxy`;
 * the address it carries becomes the client's for `X-Forwarded-For` and `trustedProxies`, over plain
 * HTTP or TLS (the header comes before the handshake). Anything else (no header, a malformed one, no
 * complete header within `timeouts.clientHeaders`) closes the connection.
 */
import type { Server as NetServer, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/** The client address a PROXY header gave for a connection. */
export interface ProxiedPeer {
  readonly address: string;
  readonly port: number;
}

/** The outcome of reading the start of a connection. */
export type ProxyHeader =
  | { readonly kind: 'incomplete' }
  /** `peer` is undefined for `LOCAL` (v2) and `UNKNOWN` (v1): the balancer's own connection. */
  | { readonly kind: 'header'; readonly length: number; readonly peer: ProxiedPeer | undefined };

/** A connection that does not start with a valid PROXY header. */
export class ProxyProtocolError extends Error {}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107;
/** Longest v2 header accepted: the addresses and room for TLVs (cloud balancers add a few dozen bytes). */
const V2_MAX = 4096;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;
const PORT = /^(0|[1-9]\d{0,4})$/;

/** Reads a PROXY header (v1 or v2) from the first bytes of a connection. Throws ProxyProtocolError. */
export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return { kind: 'incomplete' };
  const signature = buf[0] === 0x0d ? V2_SIGNATURE : V1_PREFIX;
  const start = buf.subarray(0, signature.length);
  if (!start.equals(signature.subarray(0, start.length))) throw new ProxyProtocolError('no PROXY header');
  if (signature === V2_SIGNATURE) return buf.length < 16 ? { kind: 'incomplete' } : parseV2(buf);
  const end = buf.indexOf('\r\n');
  if (end === -1) {
    if (buf.length >= V1_MAX) throw new ProxyProtocolError('PROXY v1 header too long');
    return { kind: 'incomplete' };
  }
  if (end + 2 > V1_MAX) throw new ProxyProtocolError('PROXY v1 header too long');
  return { kind: 'header', length: end + 2, peer: parseV1(buf.toString('latin1', 0, end)) };
}

function parseV1(line: string): ProxiedPeer | undefined {
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return undefined;
  const [, family, source, , sourcePort, destPort] = parts;
  const shape = family === 'TCP4' ? IPV4 : family === 'TCP6' ? IPV6 : undefined;
  if (
    parts.length !== 6 ||
    shape === undefined ||
    !shape.test(source ?? '') ||
    !shape.test(parts[3] ?? '') ||
    !PORT.test(sourcePort ?? '') ||
    !PORT.test(destPort ?? '') ||
    Number(sourcePort) > 65535
  ) {
    throw new ProxyProtocolError(`malformed PROXY v1 header: ${JSON.stringify(line.slice(0, 60))}`);
  }
  return { address: source!, port: Number(sourcePort) };
}

function parseV2(buf: Buffer): ProxyHeader {
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('unsupported PROXY protocol version');
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX) throw new ProxyProtocolError('PROXY v2 header too long');
  if (buf.length < length) return { kind: 'incomplete' };
  const command = versionCommand & 0x0f;
  if (command === 0) return { kind: 'header', length, peer: undefined }; // LOCAL: health checks
  if (command !== 1) throw new ProxyProtocolError('unsupported PROXY v2 command');
  const family = buf[13]! >> 4;
  if (family === 1 && length >= 16 + 12) {
    const address = [...buf.subarray(16, 20)].join('.');
    return { kind: 'header', length, peer: { address, port: buf.readUInt16BE(24) } };
  }
  if (family === 2 && length >= 16 + 36) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
    return { kind: 'header', length, peer: { address: groups.join(':'), port: buf.readUInt16BE(48) } };
  }
  if (family === 0 || family === 3) return { kind: 'header', length, peer: undefined }; // UNSPEC, UNIX
  throw new ProxyProtocolError('malformed PROXY v2 addresses');
}

/**
 * Client addresses by TCP connection (both ends' ports and the balancer's address as this process
 * sees them). Keyed by the connection rather than the socket object, because with TLS the request's
 * socket is a TLSSocket wrapped around the one that read the header, and node:tls does not link them
 * publicly. Empty unless `listen.proxyProtocol` is on, so lookups cost one size check otherwise (and
 * a reload cannot make the request path disagree with the listener).
 */
const peers = new Map<string, ProxiedPeer>();

function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localPort}`;
}

/** The client address a PROXY header gave for `socket`'s connection (plain or TLS), if any. */
export function proxiedPeer(socket: Socket): ProxiedPeer | undefined {
  return peers.size === 0 ? undefined : peers.get(connectionKey(socket));
}

/**
 * Makes `server` (node:http or node:https) read a PROXY header from every connection before its
 * HTTP parser or TLS handshake sees a byte. `onError` hears each connection turned away.
 */
export function acceptProxyProtocol(
  server: NetServer,
  headerTimeoutMs: () => number,
  onError: (err: Error, socket: Socket) => void,
): void {
  const listeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  const tls = server instanceof TlsServer;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    let buffered: Buffer = Buffer.alloc(0);
    const fail = (err: Error): void => {
      cleanup();
      onError(err, socket);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let header: ProxyHeader;
      try {
        header = parseProxyHeader(buffered);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (header.kind === 'incomplete') return;
      cleanup();
      if (header.peer !== undefined) {
        const key = connectionKey(socket);
        const peer = header.peer;
        peers.set(key, peer);
        socket.once('close', () => {
          if (peers.get(key) === peer) peers.delete(key);
        });
      }
      // A TLS socket takes over the connection and first reads what waits in this socket's buffer;
      // stop the flow our listener started so that the bytes after the header stay there for it.
      // (node:http instead attaches its own data listener to this socket and must find it flowing.)
      if (tls) socket.pause();
      const rest = buffered.subarray(header.length);
      if (rest.length > 0) socket.unshift(rest);
      for (const listener of listeners) listener.call(server, socket);
    };
    // A deadline for the whole header, not an idle timeout that each trickled byte would renew
    // (none when timeouts.clientHeaders is 0, as node:http then has none for the request headers).
    const ms = headerTimeoutMs();
    const timer =
      ms > 0 ? setTimeout(() => fail(new ProxyProtocolError('no PROXY header in time')), ms) : undefined;
    const onEnd = (): void => fail(new ProxyProtocolError('connection closed before a PROXY header'));
    // A reset before the header: nothing to serve and nothing to report.
    const onSocketError = (): void => {
      cleanup();
      socket.destroy();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onSocketError);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onSocketError);
  });
}
