/**
 * Upstreams from DNS: an entry with `dns: host:port` is resolved every `resolveInterval`, and each
 * address becomes a node named `<name>-<address>` (so its cookie token stays the same while the
 * address exists). The output is a plain configuration whose upstreams all have a `url`: the pool,
 * the workers and reloads need to know nothing of DNS. An address that disappears stays as a
 * `draining` node (its pinned clients and sockets finish) until it is idle, then it is dropped.
 */
import { lookup } from 'node:dns/promises';
import type { Config, UpstreamConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';

/** Resolves a host name to its addresses (IPv4 and IPv6). Injected in tests. */
export type Resolver = (host: string) => Promise<string[]>;

/** The system resolver (getaddrinfo, so /etc/hosts and search domains apply). */
export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Name of the node for `address` of entry `entry`. */
export function nodeNameFor(entry: string, address: string): string {
  return `${entry}-${address.replace(/[.:]/g, '-')}`;
}

/**
 * The configuration as written (with `dns` entries) and as the rest of the program sees it (every
 * upstream with a `url`). Without `dns` entries it is a pass-through with no timer.
 */
export class DnsDiscovery {
  readonly #resolver: Resolver;
  readonly #logger: Logger;
  #source: Config;
  /** Current addresses per entry name. */
  #addresses = new Map<string, string[]>();
  /** Node names that disappeared from DNS and still drain: name -> its upstream entry. */
  readonly #leaving = new Map<string, UpstreamConfig>();
  #timer: NodeJS.Timeout | undefined;
  #isIdle: (name: string) => boolean = () => false;
  #onChange: (resolved: Config) => void = () => {};

  constructor(source: Config, resolver: Resolver, logger: Logger) {
    this.#source = source;
    this.#resolver = resolver;
    this.#logger = logger;
  }

  /** Resolves once and returns the resolved configuration. */
  async init(): Promise<Config> {
    await this.#refresh();
    return this.resolved();
  }

  /** The current resolved configuration. */
  resolved(): Config {
    return needsDns(this.#source) ? this.#expand() : this.#source;
  }

  /** Takes a new written configuration (reload); returns it resolved with the addresses known so far. */
  replace(next: Config): Config {
    this.#source = next;
    if (this.#timer !== undefined || needsDns(next)) this.#schedule(0);
    return this.resolved();
  }

  /** Re-resolves on every entry's interval and reports resolved configurations that changed. */
  watch(isIdle: (name: string) => boolean, onChange: (resolved: Config) => void): void {
    this.#isIdle = isIdle;
    this.#onChange = onChange;
    if (needsDns(this.#source)) this.#schedule(this.#interval());
  }

  /** True while any upstream entry is a DNS name. */
  get usesDns(): boolean {
    return needsDns(this.#source);
  }

  /** Stops re-resolving. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onChange = () => {};
  }

  #interval(): number {
    const entries = this.#source.upstreams.filter((u) => u.dns !== undefined);
    return Math.min(...entries.map((e) => e.resolveInterval));
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      const changed = await this.#refresh();
      if (changed || this.#leaving.size > 0) this.#onChange(this.resolved());
      if (needsDns(this.#source)) this.#schedule(this.#interval());
      else this.#timer = undefined;
    }, delayMs);
    this.#timer.unref();
  }

  /** Resolves every `dns` entry; true when any address set changed. */
  async #refresh(): Promise<boolean> {
    const entries = this.#source.upstreams.filter((u) => u.dns !== undefined);
    let changed = false;
    const next = new Map<string, string[]>();
    await Promise.all(
      entries.map(async (entry) => {
        const host = entry.dns!.slice(0, entry.dns!.lastIndexOf(':'));
        const before = this.#addresses.get(entry.name) ?? [];
        let found: string[];
        try {
          found = [...new Set(await this.#resolver(host))].sort();
        } catch (err) {
          // A failed lookup keeps the last known addresses: DNS trouble must not empty the pool.
          this.#logger.warn(
            { err, entry: entry.name, host },
            'upstream DNS lookup failed; keeping the last addresses',
          );
          found = before;
        }
        next.set(entry.name, found);
        if (found.join() === before.join()) return;
        changed = true;
        this.#logger.info({ entry: entry.name, host, addresses: found }, 'upstream addresses changed');
        for (const gone of before.filter((a) => !found.includes(a))) {
          const name = nodeNameFor(entry.name, gone);
          this.#leaving.set(name, { ...entry, name, url: urlFor(entry, gone), dns: undefined });
        }
        for (const back of found) this.#leaving.delete(nodeNameFor(entry.name, back));
      }),
    );
    this.#addresses = next;
    return changed;
  }

  /**
   * The source with every `dns` entry replaced by its addresses, and addresses that left as
   * draining nodes until idle. A node's token depends on its own name and address only, so tokens
   * of the other nodes do not change as addresses come and go.
   */
  #expand(): Config {
    const source = this.#source;
    const upstreams: UpstreamConfig[] = [];
    const seen = new Set<string>();
    for (const entry of source.upstreams) {
      if (entry.dns === undefined) {
        upstreams.push(entry);
        continue;
      }
      for (const address of this.#addresses.get(entry.name) ?? []) {
        const name = nodeNameFor(entry.name, address);
        seen.add(name);
        upstreams.push({ ...entry, name, url: urlFor(entry, address), dns: undefined });
      }
    }
    for (const [name, entry] of this.#leaving) {
      if (seen.has(name) || this.#isIdle(name)) {
        this.#leaving.delete(name);
        continue;
      }
      upstreams.push({ ...entry, state: 'draining' });
    }
    return { ...source, upstreams };
  }
}

function needsDns(config: Config): boolean {
  return config.upstreams.some((u) => u.dns !== undefined);
}

function urlFor(entry: UpstreamConfig, address: string): string {
  const port = entry.dns!.slice(entry.dns!.lastIndexOf(':') + 1);
  const host = address.includes(':') ? `[${address}]` : address;
  return `${entry.scheme}://${host}:${port}`;
}
