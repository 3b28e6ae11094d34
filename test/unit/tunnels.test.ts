import { Duplex } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HALF_CLOSE_GRACE_MS, Tunnels } from '../../src/data/websocket/tunnels.js';
import { UpstreamNode } from '../../src/pool/upstream-node.js';
import { ManualClock } from '../helpers/manual-clock.js';

const cookie = {
  token: 't',
  plain: '',
  tls: '',
  content: { plain: ['', ''] as const, tls: ['', ''] as const },
};
const node = () =>
  new UpstreamNode({
    name: 'a',
    url: 'http://127.0.0.1:1',
    weight: 1,
    state: 'active',
    cookie,
    seed: [1, 2],
  });

/** One side of a tunnel: what the relay wrote to it, and whether its writing was ended. */
function side() {
  const written: string[] = [];
  const state = { ended: false };
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      cb();
    },
    final(cb) {
      state.ended = true;
      cb();
    },
  });
  return { duplex, written, state };
}

function tunnel(content?: string) {
  const clock = new ManualClock();
  const tunnels = new Tunnels(clock);
  const n = node();
  const client = side();
  const upstream = side();
  let closed = 0;
  tunnels.open(client.duplex, upstream.duplex, n, 0, () => closed++, content);
  return { clock, tunnels, n, client, upstream, closed: () => closed };
}

describe('WebSocket tunnels', () => {
  it('relays both ways and counts the tunnel and its content session on the node', async () => {
    const t = tunnel('app-1');
    t.client.duplex.push('hello');
    t.upstream.duplex.push('world');
    await tick();
    expect(t.upstream.written).toEqual(['hello']);
    expect(t.client.written).toEqual(['world']);
    expect(t.n.websockets).toBe(1);
    expect(t.n.runs('app-1')).toBe(true);
  });

  it('a FIN is passed on; both sides are cut a grace later, not before (no half-open session)', async () => {
    const t = tunnel('app-1');
    t.client.duplex.push(null);
    await tick();
    expect(t.upstream.state.ended).toBe(true);
    t.clock.advance(HALF_CLOSE_GRACE_MS - 1);
    await tick();
    expect(t.upstream.duplex.destroyed).toBe(false);
    expect(t.n.websockets).toBe(1);
    t.clock.advance(1);
    await tick();
    expect(t.upstream.duplex.destroyed).toBe(true);
    expect(t.client.duplex.destroyed).toBe(true);
    expect(t.n.websockets).toBe(0);
    expect(t.n.runs('app-1')).toBe(false);
    expect(t.closed()).toBe(1);
  });

  it('cutting the node destroys both sides at once and says how many it cut', async () => {
    const t = tunnel();
    expect(t.tunnels.cut(t.n)).toBe(1);
    await tick();
    expect(t.client.duplex.destroyed).toBe(true);
    expect(t.upstream.duplex.destroyed).toBe(true);
    expect(t.n.websockets).toBe(0);
    expect(t.tunnels.cut(t.n)).toBe(0);
    expect(t.closed()).toBe(1);
  });
});
