import { describe, expect, it } from 'vitest';
import { decide, type StickyPool } from '../../src/affinity/sticky.js';

interface N {
  name: string;
  token: string;
  health: 'up' | 'down' | 'unknown';
  state: 'active' | 'draining' | 'maintenance';
}

const tok = (c: string) => c.repeat(22);
function pool(nodes: N[]): StickyPool<N> {
  return {
    byToken: (t) => nodes.find((n) => n.token === t),
    servesPinned: (n) => n.state !== 'maintenance' && n.health !== 'down',
    isMaintenance: (n) => n.state === 'maintenance',
    choose: () => nodes.find((n) => n.state === 'active' && n.health === 'up'),
  };
}

const A = (over: Partial<N> = {}): N => ({
  name: 'a',
  token: tok('a'),
  health: 'up',
  state: 'active',
  ...over,
});
const B = (over: Partial<N> = {}): N => ({
  name: 'b',
  token: tok('b'),
  health: 'up',
  state: 'active',
  ...over,
});

describe('sticky decision', () => {
  it.each<
    [string, N[], string[], { node: string | undefined; setCookie: boolean; repin: string | undefined }]
  >([
    ['no cookie: choose and set', [A(), B()], [], { node: 'a', setCookie: true, repin: undefined }],
    [
      'valid pin: stick, no cookie',
      [A(), B()],
      [tok('b')],
      { node: 'b', setCookie: false, repin: undefined },
    ],
    [
      'pin to draining node: stick',
      [A(), B({ state: 'draining' })],
      [tok('b')],
      { node: 'b', setCookie: false, repin: undefined },
    ],
    [
      'pin to unknown-health node: stick',
      [A(), B({ health: 'unknown' })],
      [tok('b')],
      { node: 'b', setCookie: false, repin: undefined },
    ],
    [
      'pinned node down: re-pin',
      [A(), B({ health: 'down' })],
      [tok('b')],
      { node: 'a', setCookie: true, repin: 'down' },
    ],
    [
      'pinned node in maintenance: re-pin',
      [A(), B({ state: 'maintenance' })],
      [tok('b')],
      { node: 'a', setCookie: true, repin: 'maintenance' },
    ],
    [
      'token of a node no longer configured: re-pin',
      [A(), B()],
      [tok('z')],
      { node: 'a', setCookie: true, repin: 'unknown' },
    ],
    ['garbage: as no cookie', [A(), B()], ['garbage'], { node: 'a', setCookie: true, repin: undefined }],
    ['empty: as no cookie', [A(), B()], [''], { node: 'a', setCookie: true, repin: undefined }],
    [
      'tampered: as unknown node',
      [A(), B()],
      [`${tok('b').slice(0, 21)}x`],
      { node: 'a', setCookie: true, repin: 'unknown' },
    ],
    [
      'duplicates: first available wins',
      [A(), B()],
      [tok('b'), tok('a')],
      { node: 'b', setCookie: false, repin: undefined },
    ],
    [
      'duplicates: skip a down node',
      [A(), B({ health: 'down' })],
      [tok('b'), tok('a')],
      { node: 'a', setCookie: false, repin: undefined },
    ],
    [
      'duplicates: garbage then valid',
      [A(), B()],
      ['junk', tok('b')],
      { node: 'b', setCookie: false, repin: undefined },
    ],
    [
      'no node available',
      [A({ health: 'down' }), B({ health: 'down' })],
      [tok('b')],
      { node: undefined, setCookie: false, repin: undefined },
    ],
  ])('%s', (_name, nodes, values, expected) => {
    const d = decide(values, pool(nodes));
    expect({ node: d.node?.name, setCookie: d.setCookie, repin: d.repin }).toEqual(expected);
  });

  it('reports the pinned node when no node is available (for whenAllDown: tryPinned)', () => {
    const d = decide([tok('b')], pool([A({ health: 'down' }), B({ health: 'down' })]));
    expect(d.pinned?.name).toBe('b');
  });
});
