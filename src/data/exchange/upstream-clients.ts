/**
 * One undici keep-alive connection pool per upstream node. Created on first use, closed (gracefully)
 * when a node leaves the configuration, destroyed on shutdown. A WebSocket handshake gets a
 * connection of its own instead (`handshake`): it leaves as the tunnel's, and a handshake its client
 * gives up on must leave nothing behind (undici reconnects for an in-flight request that is aborted,
 * nodejs/undici#5845, and a pool would keep that idle connection; a Shiny app is silent until its
 * client speaks, so a crowd of abandoned handshakes would hold as many connections to the node).
 */
import { Client as UndiciClient, Pool as UndiciPool } from 'undici';
import type { UpstreamClientOptions } from '../../contract/data-settings.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';

/** The dispatchers for every node. */
export class UpstreamClients {
  readonly #pools = new Map<UpstreamNode, UndiciPool>();
  /** The connections of handshakes under way, by node: a lost node's are destroyed with its pool. */
  readonly #handshakes = new Map<UpstreamNode, Set<UndiciClient>>();
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
        ...this.#clientOptions(node),
        connections: o.connections > 0 ? o.connections : null,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
      });
      this.#pools.set(node, pool);
    }
    return pool;
  }

  /**
   * A connection of its own to `node` for one WebSocket handshake attempt, with the pool's options;
   * its exchange ends it with `endHandshake` once the attempt is over (the socket of an accepted
   * upgrade has left it by then).
   */
  handshake(node: UpstreamNode): UndiciClient {
    const client = new UndiciClient(node.url, this.#clientOptions(node));
    let set = this.#handshakes.get(node);
    if (set === undefined) {
      set = new Set();
      this.#handshakes.set(node, set);
    }
    set.add(client);
    return client;
  }

  /** Destroys a handshake's connection (idempotent). */
  endHandshake(node: UpstreamNode, client: UndiciClient): void {
    const set = this.#handshakes.get(node);
    if (set?.delete(client) && set.size === 0) this.#handshakes.delete(node);
    void client.destroy().catch(() => {});
  }

  /** Destroys the connections of `node`'s handshakes under way: they fail as the node's loss. */
  #endHandshakes(node: UpstreamNode): void {
    for (const client of [...(this.#handshakes.get(node) ?? [])]) this.endHandshake(node, client);
  }

  #clientOptions(node: UpstreamNode) {
    const o = this.#options;
    return {
      pipelining: 1,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      connect: { timeout: o.connectTimeoutMs, noDelay: true, keepAlive: true, ...node.tlsOptions },
      // Bodies stream both ways with no size cap; headers as large as node:http accepts.
      maxHeaderSize: 256 * 1024,
      strictContentLength: true,
    };
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

  /**
   * Closes the pool of a node that left the configuration once its requests finish; its handshakes
   * under way fail at once (they go to another node).
   */
  retire(node: UpstreamNode): void {
    this.#drop(node, false);
  }

  /** Drops every idle and busy connection of `node` at once, its handshakes' too (node marked down). */
  reset(node: UpstreamNode): void {
    this.#drop(node, true);
  }

  #drop(node: UpstreamNode, now: boolean): void {
    this.#endHandshakes(node);
    const pool = this.#pools.get(node);
    if (pool === undefined) return;
    this.#pools.delete(node);
    void (now ? pool.destroy() : pool.close()).catch(() => {});
  }

  /** Destroys every pool and handshake connection at once. */
  async destroy(): Promise<void> {
    for (const node of [...this.#handshakes.keys()]) this.#endHandshakes(node);
    await Promise.allSettled([...this.#pools.values()].map((p) => p.destroy()));
    this.#pools.clear();
  }
}
