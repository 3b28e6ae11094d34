/**
 * Rule 14: the cookie values other balancers write for a node, derived as their sources do
 * (src/affinity/adopt.ts cites them), checked against values computed independently (coreutils'
 * md5sum and sha256sum, the FNV reference vectors) on those projects' own test fixtures.
 */
import { describe, expect, it } from 'vitest';
import { type AdoptRule, adoptKey, adoptValues, fnv1Hex, serverUrl } from '../../src/affinity/adopt.js';

const rule = (kind: AdoptRule['kind'], extra: Partial<AdoptRule> = {}): AdoptRule => ({
  cookie: 'c',
  kind,
  values: {},
  ...extra,
});

describe('adopted cookie values (rule 14)', () => {
  it.each<[string, AdoptRule, string, string, string[]]>([
    ['haproxy: the node name by default', rule('haproxy'), 'connect1', 'http://10.0.0.1:3939', ['connect1']],
    [
      "haproxy: the server line's cookie value, given",
      rule('haproxy', { values: { connect1: 'c1' } }),
      'connect1',
      'http://10.0.0.1:3939',
      ['c1'],
    ],
    [
      // sha256("http://10.42.0.12:3939")[:16]; the URL; FNV-1 64 of it, once and twice.
      'traefik: SHA-256 of the server URL, and the forms Traefik still reads',
      rule('traefik'),
      'n',
      'http://10.42.0.12:3939/',
      [
        '3ff26eb38a2bbdcb',
        'http://10.42.0.12:3939',
        fnv1Hex('http://10.42.0.12:3939'),
        fnv1Hex(fnv1Hex('http://10.42.0.12:3939')),
      ],
    ],
    [
      // ingress-nginx's nodemap_test fixture: md5("access-router-production-web-80" .. "10.184.7.40:8080").
      'ingress-nginx (persistent): MD5 of the backend name and the endpoint',
      rule('ingress-nginx', { backend: 'access-router-production-web-80' }),
      'web-a',
      'http://10.184.7.40:8080',
      ['ce8f959dcbe10d546cb8a4cc705e10f0'],
    ],
    [
      'ingress-nginx: another endpoint of the same backend',
      rule('ingress-nginx', { backend: 'access-router-production-web-80' }),
      'web-b',
      'http://10.184.7.41:8080',
      ['6001ea941bacf56eb97addd3ec826862'],
    ],
    [
      'a value given by hand wins for any kind',
      rule('traefik', { values: { n: 'x' } }),
      'n',
      'http://h:1',
      ['x'],
    ],
  ])('%s', (_name, r, name, url, expected) => {
    expect(adoptValues(r, name, url)).toEqual(expected);
  });

  it.each([
    ['', 'cbf29ce484222325'],
    ['a', 'af63bd4c8601b7be'],
    ['foobar', '340d8765a4dda9c2'],
  ])(
    'FNV-1 64 of %j is %s (the FNV reference vectors; Go formats it without leading zeros)',
    (input, hex) => {
      expect(fnv1Hex(input)).toBe(hex);
    },
  );

  it.each([
    ['http://10.0.0.1', 'http://10.0.0.1:80'],
    ['https://connect.example/', 'https://connect.example:443'],
    ['http://[fd00::1]:3939', 'http://[fd00::1]:3939'],
  ])('Traefik server URL of %s', (url, server) => {
    expect(serverUrl(url)).toBe(server);
  });

  it.each<[AdoptRule['kind'], string, string]>([
    [
      'ingress-nginx',
      'ce8f959dcbe10d546cb8a4cc705e10f0|3ec0ac2d8dd2cda20a93dee13e737231',
      'ce8f959dcbe10d546cb8a4cc705e10f0',
    ],
    ['ingress-nginx', 'plain', 'plain'],
    ['haproxy', 'a|b', 'a|b'],
  ])('%s reads %s as %s', (kind, value, key) => {
    expect(adoptKey(kind, value)).toBe(key);
  });
});
