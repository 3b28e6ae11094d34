import { describe, expect, it } from 'vitest';
import {
  credentialHash,
  credentialOf,
  type HashWords,
  rendezvousSeed,
  rendezvousWinner,
} from '../../src/affinity/rendezvous.js';

interface N {
  readonly name: string;
  readonly seed: HashWords;
  readonly weight: number;
}

const SECRET = 'a-shared-secret-0123456789';
const node = (name: string, weight = 1): N => ({ name, seed: rendezvousSeed(SECRET, name), weight });
const keys = Array.from({ length: 3000 }, (_, i) => credentialHash(`Key api-key-${i}`));
const winners = (nodes: N[]) => keys.map((k) => rendezvousWinner(nodes, k)!.name);

describe('rendezvous hashing of credentials (rule 8)', () => {
  it('picks the same node for a key whatever the order of the node list, on every replica', () => {
    const list = [node('a'), node('b'), node('c')];
    const replica = [node('c'), node('a'), node('b')];
    expect(winners(list)).toEqual(winners([...list].reverse()));
    expect(winners(list)).toEqual(winners(replica));
  });

  it.each([
    ['equal weights', [1, 1, 1], [1 / 3, 1 / 3, 1 / 3]],
    ['weights 1:2:1', [1, 2, 1], [0.25, 0.5, 0.25]],
    ['weights 1:3', [1, 3], [0.25, 0.75]],
  ])('spreads keys by weight: %s', (_name, weights, shares) => {
    const nodes = weights.map((w, i) => node(String.fromCharCode(97 + i), w));
    const counts = new Map<string, number>();
    for (const w of winners(nodes)) counts.set(w, (counts.get(w) ?? 0) + 1);
    nodes.forEach((n, i) => {
      expect(Math.abs((counts.get(n.name) ?? 0) / keys.length - shares[i]!)).toBeLessThan(0.04);
    });
  });

  it('moves only the keys of a node that left, and a node that joins takes keys only for itself', () => {
    const before = winners([node('a'), node('b'), node('c')]);
    const without = winners([node('a'), node('c')]);
    before.forEach((w, i) => {
      if (w !== 'b') expect(without[i]).toBe(w);
    });
    const joined = winners([node('a'), node('b'), node('c'), node('d')]);
    joined.forEach((w, i) => {
      expect(w === 'd' || w === before[i]).toBe(true);
    });
    expect(joined.filter((w) => w === 'd').length).toBeGreaterThan(keys.length / 8);
  });

  it('a different secret gives a different mapping (the mapping cannot be predicted without it)', () => {
    const other = (name: string): N => ({
      name,
      seed: rendezvousSeed('another-secret-0123456789', name),
      weight: 1,
    });
    const mine = winners([node('a'), node('b'), node('c')]);
    const theirs = winners([other('a'), other('b'), other('c')]);
    expect(mine.filter((w, i) => w !== theirs[i]).length).toBeGreaterThan(keys.length / 3);
  });

  it.each<[string, string[], string[], string | undefined]>([
    ['Authorization', ['Host', 'x', 'Authorization', 'Key abc'], ['authorization'], 'Key abc'],
    ['any case', ['AUTHORIZATION', 'Key abc'], ['authorization'], 'Key abc'],
    [
      'the first of several',
      ['X-Api-Key', 'one', 'Authorization', 'Key two'],
      ['authorization', 'x-api-key'],
      'one',
    ],
    ['an empty value is none', ['Authorization', '  '], ['authorization'], undefined],
    ['not a listed header', ['Cookie', 'a=b'], ['authorization'], undefined],
    ['no header listed', ['Authorization', 'Key abc'], [], undefined],
  ])('credential header: %s', (_name, raw, names, value) => {
    expect(credentialOf(raw, names)).toBe(value);
  });
});
