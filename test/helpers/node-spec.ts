import type { NodeSpec } from '../../src/contract/data-settings.js';

/** A node's spec as the settings give it, for node-table tests (no address is ever dialled). */
export const spec = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name,
  url: `http://10.0.0.${name.charCodeAt(0) % 200}:3939`,
  weight: 1,
  state: 'active',
  cookie: {
    token: `token-${name}`,
    plain: `p-${name}`,
    tls: `t-${name}`,
    content: { plain: ['c-', '-p'], tls: ['c-', '-t'] },
  },
  seed: [name.charCodeAt(0), 7],
  ...extra,
});
