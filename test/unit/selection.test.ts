import { describe, expect, it } from 'vitest';
import { selectLeastLoaded } from '../../src/pool/selection.js';
import { initialStatus, UpstreamNode } from '../../src/pool/upstream-node.js';

const cookie = {
  token: 't',
  plain: '',
  tls: '',
  content: { plain: ['', ''] as const, tls: ['', ''] as const },
};
const node = (name: string, weight = 1, inFlight = 0) => {
  const spec = {
    name,
    url: 'http://127.0.0.1:1',
    weight,
    state: 'active' as const,
    cookie,
    seed: [1, 2] as const,
  };
  // The test is the node's table here: it makes the record and keeps the handle.
  const status = initialStatus(spec, 0);
  status.health = 'up';
  const n = new UpstreamNode(spec, undefined, undefined, status);
  for (let i = 0; i < inFlight; i++) n.traffic.request();
  return n;
};

describe('selection for new clients', () => {
  it('splits an idle cluster by weight', () => {
    const nodes = [node('a', 3), node('b', 1)];
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 100; i++) counts[selectLeastLoaded(nodes, 0)!.name]!++;
    expect(counts).toEqual({ a: 75, b: 25 });
  });

  it('round-robins equal nodes', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const picked = Array.from({ length: 6 }, () => selectLeastLoaded(nodes, 0)!.name);
    expect(new Set(picked.slice(0, 3)).size).toBe(3);
    expect(picked.slice(3)).toEqual(picked.slice(0, 3));
  });

  it.each([
    [[node('a', 1, 5), node('b', 1, 1)], 'b'],
    [[node('a', 4, 4), node('b', 1, 2)], 'a'],
    [[node('a', 1, 0)], 'a'],
  ])('least loaded per weight first (%#)', (nodes, expected) => {
    expect(selectLeastLoaded(nodes, 0)!.name).toBe(expected);
  });

  it('returns undefined with no candidates', () => {
    expect(selectLeastLoaded([], 0)).toBeUndefined();
  });
});
