import { describe, expect, it } from 'vitest';
import { affinityToken, derivedSecret, isTokenShaped } from '../../src/affinity/token.js';

describe('affinity token codec', () => {
  const secret = 'an-example-secret-of-some-length';

  it.each([['connect-a'], ['connect-b'], ['node.with.dots'], ['UPPER_lower-09']])(
    'token for %s is url-safe, token-shaped and stable across instances',
    (name) => {
      const token = affinityToken(secret, name);
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(isTokenShaped(token)).toBe(true);
      expect(affinityToken(secret, name)).toBe(token);
      expect(token).not.toContain(name);
    },
  );

  it('differs by node and by secret', () => {
    expect(affinityToken(secret, 'a')).not.toBe(affinityToken(secret, 'b'));
    expect(affinityToken(secret, 'a')).not.toBe(affinityToken(`${secret}x`, 'a'));
  });

  it.each([
    ['', false],
    ['short', false],
    ['"quotedquotedquotedquo"', false],
    ['abc,def/ghi=jklmnopqrst', false],
    ['aaaaaaaaaaaaaaaaaaaaaaa', false],
    ['aaaaaaaaaaaaaaaaaaaaaa', true],
  ])('isTokenShaped(%j) is %s', (value, shaped) => {
    expect(isTokenShaped(value)).toBe(shaped);
  });

  it('a tampered token no longer names the node', () => {
    const token = affinityToken(secret, 'connect-a');
    const tampered = (token[0] === 'A' ? 'B' : 'A') + token.slice(1);
    expect(tampered).not.toBe(token);
    expect(affinityToken(secret, 'connect-a')).not.toBe(tampered);
  });

  it('derived secret depends only on the upstream set, not its order', () => {
    const a = [
      { name: 'a', url: 'http://10.0.0.1:3939' },
      { name: 'b', url: 'http://10.0.0.2:3939' },
    ];
    expect(derivedSecret(a)).toBe(derivedSecret([...a].reverse()));
    expect(derivedSecret(a)).not.toBe(derivedSecret([a[0]!]));
  });
});
