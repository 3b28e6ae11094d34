/**
 * The files a configuration names (TLS certificates, keys, CA bundles), read at start-up and on
 * every reload, so a missing or unreadable file fails there with its key path, never per request.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Config } from './schema.js';

/** Certificate and key of the TLS listener. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
}

/** TLS options for connections to one https:// node. */
export interface UpstreamTls {
  readonly ca?: string;
  readonly rejectUnauthorized: boolean;
}

/** Everything read from disk for a configuration (once per start or reload). */
export interface TlsMaterial {
  readonly server: ServerTls | undefined;
  /** CA bundles by the path the configuration names (`upstreams[].tls.ca`). */
  readonly cas: ReadonlyMap<string, string>;
}

/** Reads every file `config` names; throws ConfigError listing each one that cannot be read. */
export function loadTlsMaterial(config: Config): TlsMaterial {
  const problems: string[] = [];
  const read = (path: string, file: string): string => {
    try {
      const text = readFileSync(file, 'utf8');
      if (!text.includes('-----BEGIN ')) problems.push(`${path}: ${file} is not a PEM file`);
      return text;
    } catch (err) {
      problems.push(`${path}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      return '';
    }
  };
  const t = config.listen.tls;
  const server = t
    ? { cert: read('listen.tls.cert', t.cert), key: read('listen.tls.key', t.key) }
    : undefined;
  const cas = new Map<string, string>();
  config.upstreams.forEach((u, i) => {
    const file = u.tls?.ca;
    if (file !== undefined && !cas.has(file)) cas.set(file, read(`upstreams[${i}].tls.ca`, file));
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { server, cas };
}

/** The TLS options of connections to `upstream`, or undefined for Node's defaults. */
export function upstreamTls(
  upstream: Config['upstreams'][number],
  tls: TlsMaterial,
): UpstreamTls | undefined {
  if (upstream.tls === undefined) return undefined;
  const ca = upstream.tls.ca === undefined ? undefined : tls.cas.get(upstream.tls.ca);
  return { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: !upstream.tls.insecureSkipVerify };
}
