/** WebSocket client helpers over `ws`, closed after the test. */
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';

/** An open socket, the Set-Cookie of its 101 and its first message. */
export interface OpenSocket {
  ws: WebSocket;
  setCookie: string[];
  /** The headers of the 101. */
  head: Record<string, string | string[] | undefined>;
  hello: {
    hello: string;
    cookie: string | null;
    protocol: string;
    extensions: string | null;
    requestId: string | null;
    traceparent: string | null;
  };
}

/** Opens a WebSocket to `url` with `cookie`, resolves after the node's hello message. */
export function openSocket(url: string, cookie?: string, protocols?: string[]): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, {
      headers: cookie ? { cookie } : {},
      perMessageDeflate: true,
    });
    onTestFinished(() => ws.terminate());
    let setCookie: string[] = [];
    let head: OpenSocket['head'] = {};
    ws.once('upgrade', (res) => {
      head = res.headers;
      const raw = res.headers['set-cookie'];
      setCookie = raw === undefined ? [] : raw;
    });
    ws.once('message', (data) => resolve({ ws, setCookie, head, hello: JSON.parse(String(data)) }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

/** Resolves with the close code when `ws` closes. */
export function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(1006);
    ws.once('close', (code) => resolve(code));
  });
}

/** Sends `data` and resolves with the next message. */
export function roundTrip(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => {
    ws.once('message', (msg, binary) => resolve({ data: msg as Buffer, binary }));
    ws.send(data, { binary: typeof data !== 'string' });
  });
}
