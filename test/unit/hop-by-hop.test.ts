import { describe, expect, it } from 'vitest';
import {
  connectionTokens,
  isResponseHopByHop,
  pushNodeHeaders,
  removeHeaders,
} from '../../src/data/hop-by-hop.js';
import { http2Head, http2RawHead } from '../../src/data/reply.js';

describe('Connection header tokens', () => {
  it.each<[string, string[] | undefined]>([
    ['keep-alive', undefined],
    ['Keep-Alive', undefined],
    ['close', undefined],
    ['Upgrade', undefined],
    ['keep-alive, X-Hop', ['x-hop']],
    ['close,x-a , X-B', ['x-a', 'x-b']],
    ['', undefined],
  ])('%j names %j', (value, names) => {
    const tokens = connectionTokens(value);
    expect(tokens === undefined ? undefined : [...tokens]).toEqual(names);
  });

  it('removes the named headers from a flat list, any case', () => {
    const headers = ['Host', 'x', 'X-Hop', '1', 'Accept', '*/*', 'x-hop', '2'];
    removeHeaders(headers, new Set(['x-hop']));
    expect(headers).toEqual(['Host', 'x', 'Accept', '*/*']);
  });
});

describe('response hop-by-hop names', () => {
  it.each<[string, boolean]>([
    ['Connection', true],
    ['KEEP-ALIVE', true],
    ['Proxy-Connection', true],
    ['Transfer-Encoding', true],
    ['upgrade', true],
    ['Trailer', true],
    ['TE', true],
    ['HTTP2-Settings', true],
    ['Content-Length', false],
    ['Date', false],
    ['Set-Cookie', false],
    ['Connectionx', false],
    ['Keep-Alivx', false],
    ['', false],
    ['X-A-Header-Name-Longer-Than-Thirty-Two-Characters', false],
  ])('%j -> %j', (name, expected) => {
    expect(isResponseHopByHop(name)).toBe(expected);
  });
});

describe("a node's response head, filtered, and as HTTP/2 sends it", () => {
  const raw = (...flat: string[]) => flat.map((s) => Buffer.from(s, 'latin1'));
  it.each<[string, Buffer[], Record<string, string | string[]>, number]>([
    [
      'ordinary',
      raw('Date', 'x', 'Content-Type', 'text/html', 'Content-Length', '12', 'ETag', '"a"'),
      { date: 'x', 'content-type': 'text/html', 'content-length': '12', etag: '"a"' },
      12,
    ],
    [
      'hop-by-hop and the node request id dropped',
      raw(
        'Connection',
        'keep-alive',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'X-Request-Id',
        'n',
      ),
      {},
      -1,
    ],
    [
      'repeated Set-Cookie kept as a list, any case',
      raw('Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3'),
      { 'set-cookie': ['a=1', 'b=2', 'c=3'] },
      -1,
    ],
    [
      'a header the Connection header names',
      raw('Connection', 'close, X-Hop', 'X-Hop', '1', 'x-keep', '2', 'Content-Length', '0'),
      { 'x-keep': '2', 'content-length': '0' },
      0,
    ],
    [
      'a single-value field repeated keeps its first value; HTTP2-Settings never goes on',
      raw(
        'Content-Type',
        'text/plain',
        'content-type',
        'text/html',
        'HTTP2-Settings',
        'AAMA',
        'Vary',
        'a',
        'Vary',
        'b',
      ),
      { 'content-type': 'text/plain', vary: ['a', 'b'] },
      -1,
    ],
    [
      'an unknown name keeps its value bytes',
      raw('X-Caf\u00e9', 'd\u00e9j\u00e0'),
      { 'x-caf\u00e9': 'd\u00e9j\u00e0' },
      -1,
    ],
  ])('%s', (_label, head, expected, length) => {
    const flat: string[] = [];
    expect(pushNodeHeaders(flat, head)).toBe(length);
    // Over HTTP/2 the same headers go out lower-cased, a repeated one as a list.
    expect(http2Head(200, flat)).toEqual({ ':status': 200, ...expected });
    // Node 24's raw head says the same: the same fields, values and order, the same single values.
    const raw = http2RawHead(200, flat);
    const asObject: Record<string, string | string[]> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const had = asObject[raw[i]!];
      asObject[raw[i]!] =
        had === undefined ? raw[i + 1]! : [...(Array.isArray(had) ? had : [had]), raw[i + 1]!];
    }
    expect(asObject).toEqual({ ':status': '200', ...expected });
  });
});
