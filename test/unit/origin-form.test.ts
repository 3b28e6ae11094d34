import { describe, expect, it } from 'vitest';
import { BadRequestError, originForm } from '../../src/data/forwarded-headers.js';

describe('originForm (the request target sent upstream)', () => {
  it.each([
    ['/a/b?c=d', 'x', '/a/b?c=d'],
    ['/', undefined, '/'],
    [undefined, 'x', '/'],
    ['http://x/echo?q=1', 'x', '/echo?q=1'],
    ['http://X:80/echo', 'x', '/echo'],
    ['http://x/echo', 'x:80', '/echo'],
    ['HTTPS://connect.example.org:443/a', 'connect.example.org', '/a'],
    ['http://x:8080', 'x:8080', '/'],
    ['http://x/echo', undefined, '/echo'],
  ])('%s with Host %s is %s', (url, host, expected) => {
    expect(originForm(url, host)).toBe(expected);
  });

  it.each([
    ['http://evil.example/echo', 'x', 'HOST_MISMATCH'],
    ['http://x:81/echo', 'x', 'HOST_MISMATCH'],
    ['http://[::1/', 'x', 'INVALID_TARGET'],
    ['*', 'x', 'INVALID_TARGET'],
    ['x:443', 'x', 'INVALID_TARGET'],
    ['echo', 'x', 'INVALID_TARGET'],
    ['ftp://x/echo', 'x', 'INVALID_TARGET'],
  ])('%s with Host %s is refused with %s', (url, host, code) => {
    let thrown: unknown;
    try {
      originForm(url, host);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BadRequestError);
    expect((thrown as BadRequestError).code).toBe(code);
  });
});
