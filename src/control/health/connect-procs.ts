/**
 * What Connect itself runs on each node, read with an administrator's API key (`connect.apiKey`)
 * from the node directly, never through the balancer: `GET /__api__/metrics/procs` answers for the
 * node asked (connectapi's `get_procs`: pid, appId, appGuid, appName, appUrl, appRunAs, type,
 * cpuCurrent, cpuTotal, ram; posit-sdk-py's examples read `app_guid`, so both spellings are read).
 * It gives placement the contents a node already runs (rule 10: among nodes under the cap, one
 * with a process of the content first) and "safe to stop" the work no request shows: renders,
 * builds, scheduled jobs (rule 12). A node that does not answer costs nothing: placement falls
 * back to what the balancer sees, and its last answer is forgotten. With the same key, Connect's
 * content list (`GET /__api__/v1/content`: `guid`, `content_url`) gives each content's vanity path,
 * so a session of `/my-app/` is placed like one of `/content/{guid}/` (read about once a minute).
 * The key goes only to the nodes, in the Authorization header; it is never logged or exported.
 */
import { type Agent, request } from 'undici';
import type { ConnectProcs, UpstreamNode } from '../../pool/upstream-node.js';

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

/**
 * `GET path` on `node` itself with the administrator key, as JSON; undefined when it does not
 * answer 200 in time, answers more than MAX_BYTES, or answers something that is not JSON.
 */
async function getJson(
  agent: Agent,
  node: UpstreamNode,
  path: string,
  apiKey: string,
  timeoutMs: number,
): Promise<unknown> {
  try {
    const res = await request(`${node.url}${path}`, {
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
    return text.length > MAX_BYTES ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** Reads `node`'s processes; undefined when it does not answer in time or answers garbage. */
export async function readProcs(
  agent: Agent,
  node: UpstreamNode,
  apiKey: string,
  timeoutMs: number,
): Promise<ConnectProcs | undefined> {
  return summarise(await getJson(agent, node, '/__api__/metrics/procs', apiKey, timeoutMs));
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

/**
 * A vanity path fit to be a cookie's Path: RFC 3986 path characters (unreserved, percent-encoded,
 * sub-delims but `;`, `:`, `@`, `/`). `;` would end the Path and start attributes nobody set.
 */
export const VANITY_PATH = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,=:@/]|%[0-9A-Fa-f]{2})*$/;

/** Content paths answered by Connect's content list, at most this many (a bound on memory). */
const MAX_VANITY = 20_000;

/**
 * The vanity paths of Connect's content list (`content_url` whose path is not `/content/{guid}/`),
 * path prefix (ending in `/`) to GUID; undefined when the node does not answer.
 */
export async function readVanity(
  agent: Agent,
  node: UpstreamNode,
  apiKey: string,
  timeoutMs: number,
): Promise<Map<string, string> | undefined> {
  const list = await getJson(agent, node, '/__api__/v1/content', apiKey, timeoutMs);
  if (!Array.isArray(list)) return undefined;
  const vanity = new Map<string, string>();
  for (const c of list as Array<Record<string, unknown>>) {
    if (vanity.size >= MAX_VANITY) break;
    if (typeof c?.guid !== 'string' || typeof c.content_url !== 'string') continue;
    let path: string;
    try {
      path = new URL(c.content_url).pathname;
    } catch {
      continue;
    }
    if (!path.endsWith('/')) path += '/';
    if (path === '/' || path.startsWith('/content/') || path.startsWith('/__')) continue;
    // The path becomes a cookie's Path: only URL path characters, never `;` (issue 32.13).
    if (!VANITY_PATH.test(path)) continue;
    vanity.set(path, c.guid.toLowerCase());
  }
  return vanity;
}

/** Content list reads, one per this many process reads (about a minute at the default 5 s). */
const VANITY_EVERY = 12;

/** Reads every node's processes every `intervalMs` while started (`connect.apiKey` set). */
/** What the reader needs of the pool: its nodes, where their processes are reported, vanity paths. */
export interface ProcsPool {
  readonly nodes: readonly UpstreamNode[];
  setConnectProcs(node: UpstreamNode, procs: ConnectProcs | undefined): void;
  vanity: ReadonlyMap<string, string>;
}

export class ProcsReader {
  readonly #pool: ProcsPool;
  #reads = 0;
  readonly #agent: Agent;
  #apiKey: string;
  #intervalMs: number;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(pool: ProcsPool, agent: Agent, apiKey: string, intervalMs: number, timeoutMs: number) {
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

  /**
   * Reads every node's processes once (a node that does not answer has no processes known), and
   * every VANITY_EVERY reads the content list from the first node that is up.
   */
  async readOnce(): Promise<void> {
    await Promise.all(
      this.#pool.nodes.map(async (node) => {
        this.#pool.setConnectProcs(node, await readProcs(this.#agent, node, this.#apiKey, this.#timeoutMs));
      }),
    );
    if (this.#reads++ % VANITY_EVERY !== 0) return;
    const node = this.#pool.nodes.find((n) => n.health === 'up');
    if (node === undefined) {
      this.#reads = 0; // none up yet: try again at the next read
      return;
    }
    const vanity = await readVanity(this.#agent, node, this.#apiKey, this.#timeoutMs);
    if (vanity !== undefined) this.#pool.vanity = vanity;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
    await this.#agent.close();
  }
}
