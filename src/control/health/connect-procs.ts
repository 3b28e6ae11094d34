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
import type { Readable } from 'node:stream';
import { request } from 'undici';
import type { ConnectProcs, UpstreamNode } from '../../pool/upstream-node.js';
import { type ContentListRead, scanContentList } from './content-list.js';
import type { NodeAgents } from './node-agents.js';

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

/** Largest procs answer read (a node with thousands of processes answers a few hundred KB). */
const MAX_BYTES = 4 * 1024 * 1024;

/** An answer of `node`'s Connect API: its body while it answers 200, or why it did not. */
type ApiAnswer = { readonly body: Readable } | { readonly error: string };

/** `GET path` on `node` itself with the administrator key; never throws. */
async function getApi(
  agents: NodeAgents,
  node: UpstreamNode,
  path: string,
  apiKey: string,
  timeoutMs: number,
): Promise<ApiAnswer> {
  try {
    const res = await request(`${node.url}${path}`, {
      dispatcher: agents.for(node),
      headers: { authorization: `Key ${apiKey}`, accept: 'application/json', 'user-agent': 'stickylb' },
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (res.statusCode === 200) return { body: res.body };
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    return { error: `answered ${res.statusCode}` };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * `GET path` on `node` as JSON; undefined when it does not answer 200 in time, answers more than
 * MAX_BYTES (reading stops there: the bytes beyond are never pulled), or answers something that
 * is not JSON.
 */
async function getJson(
  agents: NodeAgents,
  node: UpstreamNode,
  path: string,
  apiKey: string,
  timeoutMs: number,
): Promise<unknown> {
  const answer = await getApi(agents, node, path, apiKey, timeoutMs);
  if ('error' in answer) return undefined;
  try {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > MAX_BYTES) {
        answer.body.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    answer.body.destroy();
    return undefined;
  }
}

/** Reads `node`'s processes; undefined when it does not answer in time or answers garbage. */
export async function readProcs(
  agents: NodeAgents,
  node: UpstreamNode,
  apiKey: string,
  timeoutMs: number,
): Promise<ConnectProcs | undefined> {
  return summarise(await getJson(agents, node, '/__api__/metrics/procs', apiKey, timeoutMs));
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

/** A read of Connect's content list: its vanity paths, and whether the list was cut; or why it failed. */
export type VanityRead =
  | {
      readonly vanity: Map<string, string>;
      /** Content names by GUID (for the admin API). */
      readonly names: Map<string, string>;
      readonly contents: number;
      readonly cut: ContentListRead['cut'];
    }
  | { readonly error: string };

/**
 * The vanity paths of Connect's content list (`content_url` whose path is not `/content/{guid}/`),
 * path prefix (ending in `/`) to GUID, read as a stream (content-list.ts).
 */
export async function readVanity(
  agents: NodeAgents,
  node: UpstreamNode,
  apiKey: string,
  timeoutMs: number,
): Promise<VanityRead> {
  const answer = await getApi(agents, node, '/__api__/v1/content', apiKey, timeoutMs);
  if ('error' in answer) return answer;
  let list: ContentListRead;
  try {
    list = await scanContentList(answer.body);
  } catch (err) {
    return { error: `not a content list: ${(err as Error).message}` };
  }
  const vanity = new Map<string, string>();
  const names = new Map<string, string>();
  for (const c of list.items) {
    if (c.name !== undefined) names.set(c.guid.toLowerCase(), c.name);
    let path: string;
    try {
      path = new URL(c.contentUrl).pathname;
    } catch {
      continue;
    }
    if (!path.endsWith('/')) path += '/';
    if (path === '/' || path.startsWith('/content/') || path.startsWith('/__')) continue;
    // The path becomes a cookie's Path: only URL path characters, never `;` (issue 32.13).
    if (!VANITY_PATH.test(path)) continue;
    vanity.set(path, c.guid.toLowerCase());
  }
  return { vanity, names, contents: list.items.length, cut: list.cut };
}

/** Content list reads, one per this many process reads (about a minute at the default 5 s). */
const VANITY_EVERY = 12;

/** What the reader needs of the pool: its nodes, where their processes are reported, vanity paths. */
export interface ProcsPool {
  readonly nodes: readonly UpstreamNode[];
  setConnectProcs(node: UpstreamNode, procs: ConnectProcs | undefined): void;
  vanity: ReadonlyMap<string, string>;
  contentNames: ReadonlyMap<string, string>;
}

/** How a read of the content list ended, for the log and the status page (`onContentList`). */
export type ContentListOutcome =
  | {
      readonly ok: true;
      readonly node: string;
      readonly contents: number;
      readonly vanityPaths: number;
      readonly cut: ContentListRead['cut'];
    }
  | { readonly ok: false; readonly node: string; readonly error: string };

/**
 * Reads every node's processes every `intervalMs` while started (`connect.apiKey` set), each node
 * through an agent with its own TLS options (node-agents.ts), and the content list about once a
 * minute (at the next read again after a failed one).
 */
export class ProcsReader {
  readonly #pool: ProcsPool;
  #reads = 0;
  readonly #agents: NodeAgents;
  #apiKey: string;
  #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onContentList: (outcome: ContentListOutcome) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    pool: ProcsPool,
    agents: NodeAgents,
    apiKey: string,
    intervalMs: number,
    timeoutMs: number,
    onContentList: (outcome: ContentListOutcome) => void = () => {},
  ) {
    this.#pool = pool;
    this.#agents = agents;
    this.#apiKey = apiKey;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#onContentList = onContentList;
  }

  /** Reads now, then every interval, until stopped. */
  start(): void {
    const tick = async () => {
      this.#running = this.readOnce();
      await this.#running;
      if (this.#stopped) return;
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
    const nodes = this.#pool.nodes;
    this.#agents.keepOnly(new Set(nodes));
    await Promise.all(
      nodes.map(async (node) => {
        this.#pool.setConnectProcs(node, await readProcs(this.#agents, node, this.#apiKey, this.#timeoutMs));
      }),
    );
    if (this.#reads++ % VANITY_EVERY !== 0) return;
    const node = this.#pool.nodes.find((n) => n.health === 'up');
    if (node === undefined) {
      this.#reads = 0; // none up yet: try again at the next read
      return;
    }
    const read = await readVanity(this.#agents, node, this.#apiKey, this.#timeoutMs);
    if ('error' in read) {
      this.#reads = 0; // failed: again at the next read, the last list kept meanwhile
      this.#onContentList({ ok: false, node: node.name, error: read.error });
      return;
    }
    this.#pool.vanity = read.vanity;
    this.#pool.contentNames = read.names;
    this.#onContentList({
      ok: true,
      node: node.name,
      contents: read.contents,
      vanityPaths: read.vanity.size,
      cut: read.cut,
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    clearTimeout(this.#timer);
    await this.#agents.close();
  }
}
