import { describe, expect, it } from 'vitest';
import { connectionTokens, removeHeaders } from '../../src/proxy/hop-by-hop.js';

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
