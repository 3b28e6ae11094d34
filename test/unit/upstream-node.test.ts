import { describe, expect, it } from 'vitest';
import { UpstreamNode } from '../../src/pool/upstream-node.js';

const cookie = {
  token: 't',
  plain: '',
  tls: '',
  content: { plain: ['', ''] as const, tls: ['', ''] as const },
};

describe('upstream node addresses', () => {
  it.each([
    ['http://10.0.0.1:3939', '10.0.0.1', 3939, false],
    ['https://connect.example.org', 'connect.example.org', 443, true],
    ['http://[::1]:8080', '::1', 8080, false],
    ['http://[fd00::5]', 'fd00::5', 80, false],
  ])('%s -> host %s, port %d', (url, host, port, tls) => {
    const n = new UpstreamNode({ name: 'n', url, weight: 1, state: 'active', cookie, seed: [1, 2] });
    expect([n.host, n.port, n.tls]).toEqual([host, port, tls]);
  });
});
