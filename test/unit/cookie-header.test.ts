import { describe, expect, it } from 'vitest';
import { takeCookie } from '../../src/affinity/cookie-header.js';
import { setCookieLines } from '../../src/affinity/set-cookie.js';

describe('reading the affinity cookie', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['other=1', []],
    ['stickylb=abc', ['abc']],
    ['a=1; stickylb=abc; b=2', ['abc']],
    ['stickylb=first; stickylb=second', ['first', 'second']],
    ['stickylb="quoted"', ['quoted']],
    ['stickylb=', ['']],
    ['stickylbx=no; xstickylb=no', []],
    ['  stickylb = spaced ; x=1', ['spaced']],
    ['garbage;;;=;stickylb=ok', ['ok']],
    ['stickylb', []],
    ['\tstickylb\t=tabbed', ['tabbed']],
    ['stickyl=short; stickylb=ok', ['ok']],
  ])('%j -> %j', (header, values) => {
    expect(takeCookie(header, 'stickylb').values).toEqual(values);
  });
});

describe('removing the affinity cookie (rule 7)', () => {
  it.each<[string, string | undefined]>([
    ['stickylb=abc', undefined],
    ['a=1; stickylb=abc; b=2', 'a=1; b=2'],
    ['stickylb=1; stickylb=2; session=xyz', 'session=xyz'],
    ['other=1', 'other=1'],
    ['rsconnect=abc; stickylbfoo=1', 'rsconnect=abc; stickylbfoo=1'],
    ['a="with spaces and = signs"; stickylb=x', 'a="with spaces and = signs"'],
    ['a=1;  b=2 ;stickylb', 'a=1;  b=2 ;stickylb'],
    [' a=1 ;stickylb=x;; b=2 ', 'a=1; b=2'],
  ])('%j -> %j', (header, rest) => {
    expect(takeCookie(header, 'stickylb').rest).toBe(rest);
  });
});

describe('Set-Cookie attributes', () => {
  it.each([
    [
      { sameSite: 'Lax', secure: 'auto', maxAgeMs: 0 },
      'stickylb=T; Path=/; HttpOnly; SameSite=Lax',
      'stickylb=T; Path=/; HttpOnly; Secure; SameSite=Lax',
    ],
    [
      { sameSite: 'None', secure: 'auto', maxAgeMs: 0 },
      'stickylb=T; Path=/; HttpOnly; Secure; SameSite=None',
      'stickylb=T; Path=/; HttpOnly; Secure; SameSite=None',
    ],
    [
      { sameSite: 'Strict', secure: true, maxAgeMs: 3_600_000 },
      'stickylb=T; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Strict',
      'stickylb=T; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Strict',
    ],
    [
      { sameSite: 'Lax', secure: false, maxAgeMs: 0 },
      'stickylb=T; Path=/; HttpOnly; SameSite=Lax',
      'stickylb=T; Path=/; HttpOnly; SameSite=Lax',
    ],
  ] as const)('%j', (attrs, plain, tls) => {
    const lines = setCookieLines('T', { name: 'stickylb', contentName: 'stickylb_content', ...attrs });
    expect(lines.plain).toBe(plain);
    expect(lines.tls).toBe(tls);
    for (const line of [lines.plain, lines.tls]) {
      expect(line).not.toMatch(/Partitioned|Domain/i);
    }
  });
});
