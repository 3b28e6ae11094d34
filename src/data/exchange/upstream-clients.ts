/**
 * One undici keep-alive connection pool per upstream node. Created on first use, closed (gracefully)
 * when a node leaves the configuration, destroyed on shutdown.
 */
import { Pool as UndiciPool } from 'undici';
import type { UpstreamClientOptions } from '../../contract/data-settings.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';

/** The dispatchers for every node. */
export class UpstreamClients {
  readonly #pools = new Map<UpstreamNode, UndiciPool>();
  #options: UpstreamClientOptions;

  constructor(options: UpstreamClientOptions) {
    this.#options = options;
  }

  /** The pool for `node`. */
  get(node: UpstreamNode): UndiciPool {
    let pool = this.#pools.get(node);
    if (pool === undefined) {
      const o = this.#options;
      pool = new UndiciPool(node.url, {
        connections: o.connections > 0 ? o.connections : null,
        pipelining: 1,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: o.connectTimeoutMs, noDelay: true, keepAlive: true, ...node.tlsOptions },
        // Bodies stream both ways with no size cap; headers as large as node:http accepts.
        maxHeaderSize: 256 * 1024,
        strictContentLength: true,
      });
      this.#pools.set(node, pool);
    }
    return pool;
  }

  /**
   * New settings apply to pools created from now on; existing pools are replaced gracefully (their
   * running requests finish) when the settings changed (every pool) or a node's TLS options did (the
   * pools of the nodes named in `tlsChanged`). A node whose options did not change keeps its pool and
   * its warm connections, wherever it moved in the list.
   */
  reconfigure(options: UpstreamClientOptions, tlsChanged: ReadonlySet<string> = new Set()): void {
    const all = JSON.stringify(options) !== JSON.stringify(this.#options);
    this.#options = options;
    for (const [node, pool] of this.#pools) {
      if (!all && !tlsChanged.has(node.name)) continue;
      this.#pools.delete(node);
      void pool.close().catch(() => {});
    }
  }

  /** Closes the pool of a node that left the configuration once its requests finish. */
  retire(node: UpstreamNode): void {
    const pool = this.#pools.get(node);
    if (pool === undefined) return;
    this.#pools.delete(node);
    void pool.close().catch(() => {});
  }

  /** Drops every idle and busy connection of `node` at once (node marked down). */
  reset(node: UpstreamNode): void {
    const pool = this.#pools.get(node);
    if (pool === undefined) return;
    this.#pools.delete(node);
    void pool.destroy().catch(() => {});
  }

  /** Closes every pool; waits for running requests. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pools.values()].map((p) => p.close()));
    this.#pools.clear();
  }

  /** Destroys every pool at once. */
  async destroy(): Promise<void> {
    await Promise.allSettled([...this.#pools.values()].map((p) => p.destroy()));
    this.#pools.clear();
  }
}
