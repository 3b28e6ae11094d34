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

/** Everything read from disk for a configuration. */
export interface TlsMaterial {
  readonly server: ServerTls | undefined;
  /** By node name; only nodes with a `tls` block. */
  readonly upstreams: ReadonlyMap<string, UpstreamTls>;
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
  const upstreams = new Map<string, UpstreamTls>();
  config.upstreams.forEach((u, i) => {
    if (u.tls === undefined) return;
    const ca = u.tls.ca === undefined ? undefined : read(`upstreams[${i}].tls.ca`, u.tls.ca);
    upstreams.set(u.name, {
      ...(ca === undefined ? {} : { ca }),
      rejectUnauthorized: !u.tls.insecureSkipVerify,
    });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { server, upstreams };
}
