import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { parseConfig } from '../../src/config/load.js';
import { nodeSpecs } from '../../src/control/build-settings.js';

const tls = { server: undefined, cas: new Map<string, string>() };
const upstream = (i: number) => ({ name: `connect-${i}`, url: `http://10.0.0.${i}:3939` });
const tokens = (list: { name: string; url: string }[], secret?: string) =>
  Object.fromEntries(
    nodeSpecs(parseConfig({ upstreams: list, ...(secret ? { affinity: { secret } } : {}) }, {}), tls).map(
      (s) => [s.name, s.cookie.token],
    ),
  );

describe("a node's cookie token depends on nothing but that node (issue 17: a list change moved every client)", () => {
  it.each([
    ['without a secret', undefined],
    ['with a secret', 'a-shared-secret-0123456789'],
  ])('%s: adding, removing or re-addressing a node keeps the other tokens', (_name, secret) => {
    const before = tokens([upstream(1), upstream(2), upstream(3)], secret);
    expect(tokens([upstream(1), upstream(2), upstream(3), upstream(4)], secret)).toMatchObject(before);
    const { 'connect-3': _gone, ...kept } = before;
    expect(tokens([upstream(1), upstream(2)], secret)).toEqual(kept);
    const moved = tokens(
      [upstream(1), upstream(2), { name: 'connect-3', url: 'http://10.0.9.9:3939' }],
      secret,
    );
    expect(moved['connect-1']).toBe(before['connect-1']);
    expect(moved['connect-2']).toBe(before['connect-2']);
    expect(new Set(Object.values(before)).size).toBe(3);
  });

  it('with a secret the token is the HMAC of the name alone (every replica agrees, re-addressing keeps clients)', () => {
    const secret = 'a-shared-secret-0123456789';
    const moved = tokens([{ name: 'connect-3', url: 'http://10.0.9.9:3939' }], secret);
    expect(moved['connect-3']).toBe(affinityToken(secret, 'connect-3'));
  });
});
