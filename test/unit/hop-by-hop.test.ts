import { describe, expect, it } from 'vitest';
import { connectionTokens, isResponseHopByHop, removeHeaders } from '../../src/data/hop-by-hop.js';

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
