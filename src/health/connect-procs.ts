/**
 * What Connect itself runs on each node, read with an administrator's API key (`connect.apiKey`)
 * from the node directly, never through the balancer: `GET /__api__/metrics/procs` answers for the
 * node asked (connectapi's `get_procs`: pid, appId, appGuid, appName, appUrl, appRunAs, type,
 * cpuCurrent, cpuTotal, ram; posit-sdk-py's examples read `app_guid`, so both spellings are read).
 * It gives placement the contents a node already runs (rule 10: among nodes under the cap, one
 * with a process of the content first) and "safe to stop" the work no request shows: renders,
 * builds, scheduled jobs (rule 12). A node that does not answer costs nothing: placement falls
 * back to what the balancer sees, and its last answer is forgotten.
 * The key goes only to the nodes, in the Authorization header; it is never logged or exported.
 */
import { type Agent, request } from 'undici';
import type { ConnectProcs, UpstreamNode } from '../pool/upstream-node.js';

/**
 * Process types of interactive content (a session holds them); any other type (a render, a build,
 * a scheduled job) is work a node must finish before it is stopped.
 */
const INTERACTIVE = new Set([
  'shiny',
  'rmd-shiny',
  'quarto-shiny',
  'python-shiny',
  'python-dash',
  'python-streamlit',
  'python-bokeh',
  'python-panel',
  'python-gradio',
  'python-fastapi',
  'python-api',
  'api',
  'jupyter-voila',
  'tensorflow-saved-model',
]);

/** Largest answer read (a node with thousands of processes answers a few hundred KB). */
const MAX_BYTES = 4 * 1024 * 1024;

/** Reads `node`'s processes; undefined when it does not answer in time or answers garbage. */
export async function readProcs(
  agent: Agent,
  node: UpstreamNode,
  apiKey: string,
  timeoutMs: number,
): Promise<ConnectProcs | undefined> {
  try {
    const res = await request(`${node.url}/__api__/metrics/procs`, {
      dispatcher: agent,
      headers: { authorization: `Key ${apiKey}`, accept: 'application/json', 'user-agent': 'stickylb' },
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    const text = await res.body.text();
    if (text.length > MAX_BYTES) return undefined;
    return summarise(JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** The summary of a procs answer (an array of processes); undefined when it is not one. */
export function summarise(body: unknown): ConnectProcs | undefined {
  if (!Array.isArray(body)) return undefined;
  const byContent = new Map<string, number>();
  let ramBytes = 0;
  let jobs = 0;
  for (const p of body as Array<Record<string, unknown>>) {
    if (p === null || typeof p !== 'object') continue;
    const guid = p.appGuid ?? p.app_guid;
    if (typeof guid === 'string')
      byContent.set(guid.toLowerCase(), (byContent.get(guid.toLowerCase()) ?? 0) + 1);
    if (typeof p.ram === 'number' && Number.isFinite(p.ram)) ramBytes += p.ram;
    if (typeof p.type === 'string' && !INTERACTIVE.has(p.type)) jobs++;
  }
  return { byContent, total: body.length, ramBytes, jobs };
}

/** Reads every node's processes every `intervalMs` while started (`connect.apiKey` set). */
export class ProcsReader {
  readonly #pool: { readonly nodes: readonly UpstreamNode[] };
  readonly #agent: Agent;
  #apiKey: string;
  #intervalMs: number;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    pool: { readonly nodes: readonly UpstreamNode[] },
    agent: Agent,
    apiKey: string,
    intervalMs: number,
    timeoutMs: number,
  ) {
    this.#pool = pool;
    this.#agent = agent;
    this.#apiKey = apiKey;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
  }

  /** Reads now, then every interval. */
  start(): void {
    const tick = async () => {
      this.#running = this.readOnce();
      await this.#running;
      this.#timer = setTimeout(() => void tick(), this.#intervalMs);
      this.#timer.unref();
    };
    void tick();
  }

  /** A new key or interval (reload). */
  reconfigure(apiKey: string, intervalMs: number): void {
    this.#apiKey = apiKey;
    this.#intervalMs = intervalMs;
  }

  /** Reads every node once; a node that does not answer has no processes known. */
  async readOnce(): Promise<void> {
    await Promise.all(
      this.#pool.nodes.map(async (node) => {
        node.connectProcs = await readProcs(this.#agent, node, this.#apiKey, this.#timeoutMs);
      }),
    );
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
    await this.#agent.close();
  }
}
