/**
 * Rule 14: a cluster switched from another balancer keeps its sessions. `affinity.adopt` names the
 * outgoing balancer's affinity cookies; a request with no valid stickylb pin whose adopted cookie
 * names an available node goes there and gets stickylb's pin. Each kind's value, as that balancer
 * writes it (docs/migration.md cites the source lines):
 *
 * - `haproxy` (`cookie NAME insert`): the server line's `cookie VALUE`; `values` maps node names
 *   to them, the node's name by default (Posit's HA guide names servers after their nodes).
 * - `traefik` (`sticky.cookie`): Traefik v3 (pkg/server/service/loadbalancer/sticky.go,
 *   `sha256Hash`) writes the first 16 hex digits of SHA-256 of the server's URL; it still reads
 *   the URL itself and its FNV-1 64 hash (once and twice: `compatibilityStickyMap`), which older
 *   releases wrote. All four are read. The URL is Traefik's server URL, `scheme://address:port`.
 * - `ingress-nginx` (`affinity: cookie`, `affinity-mode: persistent`): rootfs/etc/nginx/lua/
 *   balancer/sticky.lua writes `KEY|BACKEND_KEY`; util/nodemap.lua makes KEY the MD5 (hex) of the
 *   backend's name (its salt, `namespace-service-port`) followed by the endpoint `address:port`.
 *   Only KEY is read. The `balanced` mode (ingress-nginx's default) writes a random key placed by
 *   consistent hashing: it cannot be adopted.
 *
 * A node's values come from its URL (`upstreams[].url`, or each address of `upstreams[].dns`);
 * `values` gives them by hand for any kind.
 */
import { createHash } from 'node:crypto';

export const ADOPT_KINDS = ['haproxy', 'traefik', 'ingress-nginx'] as const;
export type AdoptKind = (typeof ADOPT_KINDS)[number];

/** One outgoing balancer's cookie (`affinity.adopt[]`). */
export interface AdoptRule {
  readonly cookie: string;
  readonly kind: AdoptKind;
  /** Node name -> the cookie value that names it, given by hand. */
  readonly values: Readonly<Record<string, string>>;
  /** ingress-nginx: the backend's name, `namespace-service-port` (the hash's salt). */
  readonly backend?: string | undefined;
}

/** The cookie values that name the node called `name` at `url` under `rule`. */
export function adoptValues(rule: AdoptRule, name: string, url: string): string[] {
  const given = rule.values[name];
  if (given !== undefined) return [given];
  switch (rule.kind) {
    case 'haproxy':
      return [name];
    case 'traefik': {
      const server = serverUrl(url);
      const fnv = fnv1Hex(server);
      return [sha256Hex16(server), server, fnv, fnv1Hex(fnv)];
    }
    case 'ingress-nginx': {
      const { host, port } = hostPort(url);
      return [md5Hex(`${rule.backend ?? ''}${host}:${port}`)];
    }
  }
}

/** The part of a cookie value that names a node: ingress-nginx's KEY before `|`; the value otherwise. */
export function adoptKey(kind: AdoptKind, value: string): string {
  if (kind !== 'ingress-nginx') return value;
  const bar = value.indexOf('|');
  return bar < 0 ? value : value.slice(0, bar);
}

/** A URL as Traefik's Kubernetes and file providers write a server's: `scheme://host:port`. */
export function serverUrl(url: string): string {
  const u = new URL(url);
  const { port } = hostPort(url);
  return `${u.protocol}//${u.hostname}:${port}`;
}

function hostPort(url: string): { host: string; port: string } {
  const u = new URL(url);
  const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
  // ingress-nginx writes an IPv6 endpoint unbracketed (address .. ":" .. port).
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

function sha256Hex16(input: string): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

function md5Hex(input: string): string {
  return createHash('md5').update(input).digest('hex');
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** Go's `fnv.New64()` (FNV-1, 64 bits) of `input`'s UTF-8 bytes, as `strconv.FormatUint(h, 16)`. */
export function fnv1Hex(input: string): string {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(input, 'utf8')) {
    h = (h * FNV_PRIME) & MASK64;
    h ^= BigInt(byte);
  }
  return h.toString(16);
}
