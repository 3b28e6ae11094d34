/** Upstream connection pools across reloads (issue 31): kept unless a node's own options changed. */
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamClients } from '../../src/data/exchange/upstream-clients.js';
import { UpstreamNode } from '../../src/pool/upstream-node.js';
import { spec } from '../helpers/node-spec.js';

const options = { connections: 0, connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 };
let clients: UpstreamClients;
afterEach(() => clients.destroy());

describe('upstream clients across a reload', () => {
  it.each<[string, Parameters<UpstreamClients['reconfigure']>, { a: boolean; b: boolean }]>([
    ['the same settings (a reordered list): every pool kept', [options, new Set()], { a: true, b: true }],
    [
      "one node's TLS options changed: that node's pool alone is new",
      [options, new Set(['b'])],
      { a: true, b: false },
    ],
    [
      'the pools settings changed: every pool is new',
      [{ ...options, connections: 8 }, new Set()],
      { a: false, b: false },
    ],
  ])('%s', (_name, args, kept) => {
    clients = new UpstreamClients(options);
    const [a, b] = [new UpstreamNode(spec('a')), new UpstreamNode(spec('b'))];
    const before = { a: clients.get(a), b: clients.get(b) };
    clients.reconfigure(...args);
    expect({ a: clients.get(a) === before.a, b: clients.get(b) === before.b }).toEqual(kept);
  });
});
