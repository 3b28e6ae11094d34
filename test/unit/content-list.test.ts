import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { scanContentList } from '../../src/control/health/content-list.js';

/** `text` as a stream of chunks of `size` bytes (a token may straddle two). */
const chunked = (text: string, size = 7) => {
  const buf = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
};

describe('scanContentList', () => {
  it.each<[string, string, Array<{ guid: string; contentUrl: string; name?: string }>]>([
    ['an empty list', '[]', []],
    [
      'guid and content_url kept, every other field skipped whatever it holds',
      '[{"name":"a","guid":"g1","tags":[{"guid":"inner","content_url":"x"}],"n":1.5,"ok":true,"none":null,"content_url":"https://c/a/"}]',
      [{ guid: 'g1', contentUrl: 'https://c/a/', name: 'a' }],
    ],
    [
      'an item without one of them is left out',
      '[{"guid":"g1"},{"content_url":"https://c/b/"},{"guid":"g3","content_url":"https://c/c/"}]',
      [{ guid: 'g3', contentUrl: 'https://c/c/' }],
    ],
    [
      'a non-string guid is not one',
      '[{"guid":12,"content_url":"https://c/a/"},{"guid":"g2","content_url":"https://c/\\u00e9/"}]',
      [{ guid: 'g2', contentUrl: 'https://c/é/' }],
    ],
    [
      'a field longer than 2,048 characters leaves its item out',
      `[{"guid":"g1","content_url":"https://c/${'x'.repeat(3000)}/"},{"guid":"g2","content_url":"https://c/y/"}]`,
      [{ guid: 'g2', contentUrl: 'https://c/y/' }],
    ],
  ])('%s', async (_name, text, items) => {
    expect(await scanContentList(chunked(text))).toEqual({ items, cut: undefined });
  });

  it.each([
    ['an object', '{"guid":"g"}'],
    ['a list of strings', '["a"]'],
    ['a string', '"a"'],
    ['a number', '12'],
    ['a list cut short', '[{"guid":"g1","content_url":"u"},{"gu'],
    ['not JSON', '<html>'],
  ])('%s is refused', async (_name, text) => {
    await expect(scanContentList(chunked(text))).rejects.toThrow();
  });

  it('stops at the item bound with what it read, and says so', async () => {
    const list = JSON.stringify(
      Array.from({ length: 50 }, (_, i) => ({ guid: `g${i}`, content_url: `u${i}` })),
    );
    const read = await scanContentList(chunked(list, 64), 1 << 20, 10);
    expect(read.cut).toBe('items');
    expect(read.items.map((i) => i.guid)).toEqual(Array.from({ length: 10 }, (_, i) => `g${i}`));
  });

  it('stops at the byte bound with what it read, and says so', async () => {
    const list = JSON.stringify(
      Array.from({ length: 1000 }, (_, i) => ({ guid: `g${i}`, content_url: `u${i}` })),
    );
    const read = await scanContentList(chunked(list, 100), 2000);
    expect(read.cut).toBe('bytes');
    expect(read.items.length).toBeGreaterThan(10);
    expect(read.items.length).toBeLessThan(100);
  });
});
