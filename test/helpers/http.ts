/** A tiny HTTP client with a cookie jar holding the affinity cookie, over undici. */
import { Agent, type Dispatcher, request } from 'undici';
import { onTestFinished } from 'vitest';

/** A response with the parsed JSON body (when JSON) and the raw Set-Cookie lines. */
export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  setCookie: string[];
  text: string;
  json: { node?: string; headers?: Record<string, string>; [k: string]: unknown };
}

/** A client that remembers one cookie, like a browser tab or rsconnect. */
export class Client {
  cookie: string | undefined;
  readonly dispatcher: Agent;
  constructor(
    readonly base: string,
    readonly cookieName = 'stickylb',
  ) {
    this.dispatcher = new Agent({ connections: 1, pipelining: 1 });
    onTestFinished(() => this.dispatcher.destroy());
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<TestResponse> {
    return this.send('GET', path, undefined, headers);
  }

  async send(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: string | Buffer | NodeJS.ReadableStream,
    headers: Record<string, string> = {},
  ): Promise<TestResponse> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.cookie !== undefined) h.cookie = h.cookie ? `${h.cookie}; ${this.cookie}` : this.cookie;
    const res = await request(this.base + path, {
      method,
      headers: h,
      body: (body ?? null) as string | Buffer | null,
      dispatcher: this.dispatcher,
    });
    const text = await res.body.text();
    const raw = res.headers['set-cookie'];
    const setCookie = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    for (const line of setCookie) {
      const pair = line.split(';')[0]!;
      if (pair.startsWith(`${this.cookieName}=`)) this.cookie = pair;
    }
    let json = {};
    try {
      json = JSON.parse(text) as object;
    } catch {}
    return { status: res.statusCode, headers: res.headers, setCookie, text, json };
  }
}
