/** Content-aware placement (rules 10-11), pure: the order, the bound, weights, slow start, warm nodes. */
import { describe, expect, it } from 'vitest';
import {
  contentKey,
  contentOf,
  contentRefOf,
  isNavigation,
  type PlacementCandidate,
  placeContent,
} from '../../src/affinity/placement.js';
import { rendezvousSeed } from '../../src/affinity/rendezvous.js';

interface Node extends PlacementCandidate {
  readonly name: string;
  load: number;
  share: number;
  warm?: boolean;
}
const node = (name: string, weight = 1): Node => ({
  name,
  seed: rendezvousSeed('placement-test-secret-0123', name),
  weight,
  share: 1,
  load: 0,
});
const guid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('contentOf', () => {
  it.each<[string, string | undefined]>([
    ['/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'],
    ['/content/0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D/__sockjs__/x', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'],
    ['/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d?x=1', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'],
    ['/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'],
    ['/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4dX/', undefined],
    ['/content/42/', undefined],
    ['/connect/#/apps/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', undefined],
    ['/__api__/v1/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', undefined],
    ['/', undefined],
  ])('%s -> %s', (path, expected) => {
    expect(contentOf(path)).toBe(expected);
  });
});

describe('contentRefOf (GUID paths and vanity paths)', () => {
  const vanity = new Map([
    ['/sales/', 'aaaaaaaa-0000-4000-8000-000000000001'],
    ['/team/reports/q3/', 'aaaaaaaa-0000-4000-8000-000000000002'],
  ]);
  it.each<[string, { guid: string; path: string } | undefined]>([
    [
      '/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/x',
      {
        guid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        path: '/content/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/',
      },
    ],
    ['/sales/', { guid: 'aaaaaaaa-0000-4000-8000-000000000001', path: '/sales/' }],
    ['/sales/websocket/?x=1', { guid: 'aaaaaaaa-0000-4000-8000-000000000001', path: '/sales/' }],
    [
      '/team/reports/q3/session/1',
      { guid: 'aaaaaaaa-0000-4000-8000-000000000002', path: '/team/reports/q3/' },
    ],
    [
      '/content/0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D/websocket/',
      {
        guid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        path: '/content/0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D/',
      },
    ],
    ['/team/reports/', undefined],
    ['/sales', undefined],
    ['/salesforce/', undefined],
    ['/', undefined],
  ])('%s', (path, expected) => {
    expect(contentRefOf(path, vanity)).toEqual(expected);
  });
});

describe('isNavigation', () => {
  it.each<[string | undefined, string | undefined, string | undefined, boolean]>([
    ['navigate', 'document', 'text/html', true],
    ['navigate', undefined, undefined, true],
    [undefined, 'iframe', undefined, true],
    ['cors', 'empty', 'text/html', false],
    ['websocket', 'empty', undefined, false],
    ['no-cors', 'script', '*/*', false],
    [undefined, undefined, 'text/html,application/xhtml+xml', true],
    [undefined, undefined, 'application/json', false],
    [undefined, undefined, undefined, false],
  ])('mode %s dest %s accept %s -> %s', (mode, dest, accept, expected) => {
    expect(isNavigation(mode, dest, accept)).toBe(expected);
  });
});

describe('placeContent', () => {
  it('no candidate: no placement', () => {
    expect(placeContent([], contentKey(guid(1)), 1.25)).toBeUndefined();
  });

  it('an idle fleet sends each content to its preferred node, the same on every call and replica', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const again = [node('c'), node('a'), node('b')]; // another replica, listed in another order
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const placed = placeContent(nodes, contentKey(guid(i)), 1.25)!;
      expect(placed.outcome).toBe('preferred');
      expect(placeContent(again, contentKey(guid(i)), 1.25)!.node.name).toBe(placed.node.name);
      seen.set(placed.node.name, (seen.get(placed.node.name) ?? 0) + 1);
    }
    for (const name of ['a', 'b', 'c']) expect(seen.get(name)! / 3000).toBeGreaterThan(0.28);
  });

  it('weights: a node of weight 2 is preferred by about twice as many contents', () => {
    const nodes = [node('a', 2), node('b'), node('c')];
    let onA = 0;
    for (let i = 0; i < 4000; i++)
      if (placeContent(nodes, contentKey(guid(i)), 1.25)!.node.name === 'a') onA++;
    expect(onA / 4000).toBeGreaterThan(0.44);
    expect(onA / 4000).toBeLessThan(0.56);
  });

  it('the bound: sessions of one content fill its node up to the cap, then spill in its order', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const key = contentKey(guid(7));
    const first = placeContent(nodes, key, 1.25)!.node;
    const outcomes: string[] = [];
    for (let i = 0; i < 300; i++) {
      const total = nodes.reduce((s, n) => s + n.load, 0);
      const placed = placeContent(nodes, key, 1.25)!;
      // Never above ceil(c x (total + 1) / n) once placed.
      expect(placed.node.load + 1).toBeLessThanOrEqual(Math.ceil((1.25 * (total + 1)) / 3));
      placed.node.load++;
      outcomes.push(placed.outcome);
    }
    expect(outcomes[0]).toBe('preferred');
    expect(outcomes).toContain('spilled');
    expect(first.load).toBe(Math.max(...nodes.map((n) => n.load)));
    const max = Math.max(...nodes.map((n) => n.load));
    expect(max / (300 / 3)).toBeLessThanOrEqual(1.26);
  });

  it('removing a node moves only the contents it was preferred for', () => {
    const nodes = [node('a'), node('b'), node('c'), node('d')];
    const without = nodes.filter((n) => n.name !== 'd');
    for (let i = 0; i < 1000; i++) {
      const before = placeContent(nodes, contentKey(guid(i)), 1.25)!.node.name;
      const after = placeContent(without, contentKey(guid(i)), 1.25)!.node.name;
      if (before !== 'd') expect(after).toBe(before);
    }
  });

  it('slow start: a node at a small share of its weight takes few sessions while others have room', () => {
    const nodes = [node('a'), node('b')];
    nodes[0]!.share = 0.1;
    let onA = 0;
    for (let i = 0; i < 200; i++) {
      const placed = placeContent(nodes, contentKey(guid(i)), 1.25)!;
      placed.node.load++;
      if (placed.node.name === 'a') onA++;
    }
    expect(onA).toBeLessThan(40);
  });

  it('a warm node under its cap comes first; above its cap it is passed over too', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const key = contentKey(guid(3));
    const first = placeContent(nodes, key, 1.25)!.node;
    const other = nodes.find((n) => n !== first)!;
    other.warm = true;
    // The preferred node is under its bound: the warm node takes it, and that is no spill.
    expect(placeContent(nodes, key, 1.25)).toEqual({ node: other, outcome: 'warm' });
    other.load = 10;
    expect(placeContent(nodes, key, 1.25)!.node).toBe(first);
    // The preferred node at its bound: the warm one takes it, a spill.
    other.load = 0;
    first.load = 3;
    expect(placeContent(nodes, key, 1.25)).toEqual({ node: other, outcome: 'spilled' });
  });
});
