/**
 * The connections the control plane opens to nodes (probes, Connect's API): one shared Agent, and
 * one per node that has TLS options of its own (`upstreams[].tls`: its CA, or no verification), so
 * every reader of a node reaches it as the data plane does. Connecting is bounded by `timeoutMs`.
 */
import type { Agent } from 'undici';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { createProbeAgent } from './probe.js';

export class NodeAgents {
  #timeoutMs: number;
  #shared: Agent;
  readonly #byNode = new Map<UpstreamNode, { key: string; agent: Agent }>();

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#shared = createProbeAgent(timeoutMs);
  }

  /** The agent that reaches `node`: the shared one, or its own for its TLS options. */
  for(node: UpstreamNode): Agent {
    if (node.tlsOptions === undefined) return this.#shared;
    const key = JSON.stringify(node.tlsOptions);
    let entry = this.#byNode.get(node);
    if (entry === undefined || entry.key !== key) {
      void entry?.agent.close().catch(() => {});
      entry = { key, agent: createProbeAgent(this.#timeoutMs, node.tlsOptions) };
      this.#byNode.set(node, entry);
    }
    return entry.agent;
  }

  /** Closes the agents of nodes no longer in `nodes`. */
  keepOnly(nodes: ReadonlySet<UpstreamNode>): void {
    for (const [node, entry] of this.#byNode) {
      if (nodes.has(node)) continue;
      void entry.agent.close().catch(() => {});
      this.#byNode.delete(node);
    }
  }

  /** A new connect timeout: every agent is replaced (in-flight requests finish on the old ones). */
  retime(timeoutMs: number): void {
    if (timeoutMs === this.#timeoutMs) return;
    this.#timeoutMs = timeoutMs;
    const old = [this.#shared, ...[...this.#byNode.values()].map((e) => e.agent)];
    this.#shared = createProbeAgent(timeoutMs);
    this.#byNode.clear();
    for (const agent of old) void agent.close().catch(() => {});
  }

  async close(): Promise<void> {
    const all = [this.#shared, ...[...this.#byNode.values()].map((e) => e.agent)];
    this.#byNode.clear();
    await Promise.allSettled(all.map((a) => a.close()));
  }
}
