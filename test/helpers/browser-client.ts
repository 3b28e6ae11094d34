/**
 * A client that keeps cookies the way a browser does (RFC 6265 5.4): each cookie with its Path,
 * sent only with requests under that path, longer paths first; page loads and fetches marked with
 * the Sec-Fetch headers a browser sends.
 */
import { Agent, request } from 'undici';
import { onTestFinished } from 'vitest';

/** A response: status, the node that answered (fake nodes say), Set-Cookie lines, the JSON body. */
export interface BrowserResponse {
  status: number;
  node: string | undefined;
  setCookie: string[];
  json: { node?: string; headers?: Record<string, string> };
}

/** A browser tab's cookie jar and connection. */
export class BrowserClient {
  /** `name path` -> { name, value, path } */
  readonly cookies = new Map<string, { name: string; value: string; path: string }>();
  readonly #dispatcher = new Agent({ connections: 1 });

  constructor(readonly base: string) {
    onTestFinished(() => this.#dispatcher.destroy());
  }

  /** The Cookie header a browser sends for `path`. */
  cookieHeader(path: string): string | undefined {
    const bare = path.split('?')[0]!;
    const matching = [...this.cookies.values()]
      .filter(
        (c) =>
          c.path === '/' || bare === c.path || bare.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`),
      )
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length === 0 ? undefined : matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** A page load (`navigate`) or a script's fetch of `path`. */
  /** Closes the tab's connection (the next tab opens its own). */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async get(path: string, kind: 'navigate' | 'fetch' = 'fetch'): Promise<BrowserResponse> {
    const headers: Record<string, string> =
      kind === 'navigate'
        ? { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html' }
        : { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', accept: 'application/json' };
    const cookie = this.cookieHeader(path);
    if (cookie !== undefined) headers.cookie = cookie;
    const res = await request(this.base + path, { headers, dispatcher: this.#dispatcher });
    const text = await res.body.text();
    const raw = res.headers['set-cookie'];
    const setCookie = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    this.store(setCookie);
    let json: BrowserResponse['json'] = {};
    try {
      json = JSON.parse(text) as BrowserResponse['json'];
    } catch {}
    return { status: res.statusCode, node: json.node, setCookie, json };
  }

  /** Keeps the cookies of Set-Cookie lines (name, value and Path). */
  store(lines: readonly string[]): void {
    for (const line of lines) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      this.cookies.set(`${name} ${path}`, { name, value, path });
    }
  }
}
