import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { parseConfig, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const minimal = { upstreams: [{ name: 'a', url: 'http://127.0.0.1:3939' }] };

function problems(tree: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(tree, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('config defaults', () => {
  it('fills every default', () => {
    const c = parseConfig(minimal, {});
    expect(c.listen).toEqual({
      host: '0.0.0.0',
      port: 8080,
      redirectPort: 0,
      proxyProtocol: false,
      http2: true,
    });
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 9090, allowedHosts: [] });
    expect(c.upstreams[0]).toEqual({
      name: 'a',
      url: 'http://127.0.0.1:3939',
      weight: 1,
      state: 'active',
      scheme: 'http',
      resolveInterval: 10_000,
    });
    expect(c.affinity).toEqual({
      cookie: 'stickylb',
      sameSite: 'Lax',
      secure: 'auto',
      maxAge: 0,
      hashHeaders: ['authorization'],
      adopt: [],
    });
    expect(c.healthCheck).toMatchObject({
      path: '/__ping__',
      interval: 2000,
      timeout: 1000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      passiveFailures: 3,
    });
    expect(c.timeouts).toEqual({
      connect: 5000,
      response: 300_000,
      upstreamIdle: 0,
      clientIdle: 75_000,
      clientHeaders: 30_000,
      clientBody: 60_000,
      clientSend: 60_000,
      queue: 30_000,
      websocketHandshake: 10_000,
      websocketIdle: 0,
    });
    expect(c.limits.maxHeaderSize).toBe(65536);
    expect(c.failover).toEqual({ redispatchAttempts: 2, whenAllDown: 'fail', retryAfter: 5000 });
    expect(Object.isFrozen(c.upstreams[0])).toBe(true);
  });

  it('a duration that is no timer may be longer: a year of cookie Max-Age, a month of task timeout', () => {
    const c = parseConfig(
      { ...minimal, affinity: { maxAge: '8760h' }, connect: { taskTimeout: '720h' } },
      {},
    );
    expect([c.affinity.maxAge, c.connect.taskTimeout]).toEqual([31_536_000_000, 2_592_000_000]);
  });

  it.each([
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['596h', 2_145_600_000],
  ])('duration %s = %d ms', (value, ms) => {
    expect(
      parseConfig({ ...minimal, healthCheck: { interval: value, timeout: '100ms' } }, {}).healthCheck
        .interval,
    ).toBe(ms);
  });

  it('tracing is off by default; an endpoint turns it on with its ratio and service name', () => {
    expect(parseConfig(minimal, {}).tracing).toEqual({ sampleRatio: 1, serviceName: 'stickylb' });
    const on = parseConfig(
      {
        ...minimal,
        tracing: { otlp: { endpoint: 'https://otel.example:4318/v1/traces' }, sampleRatio: 0.25 },
      },
      {},
    ).tracing;
    expect(on).toEqual({
      otlp: { endpoint: 'https://otel.example:4318/v1/traces' },
      sampleRatio: 0.25,
      serviceName: 'stickylb',
    });
  });

  it("a collector's export headers, from the environment", () => {
    const otlp = parseConfig(
      {
        ...minimal,
        tracing: {
          otlp: {
            endpoint: 'https://otlp.example/v1/traces',
            headers: { authorization: 'Basic ${OTLP_AUTH}' },
          },
        },
      },
      { OTLP_AUTH: 'dXNlcjpwYXNz' },
    ).tracing.otlp;
    expect(otlp?.headers).toEqual({ authorization: 'Basic dXNlcjpwYXNz' });
  });

  it('reads ${VAR} and ${VAR:-default} from the environment', () => {
    const c = parseConfig(
      {
        ...minimal,
        listen: { port: '${PORT}' },
        affinity: { secret: '${SECRET}' },
        admin: { token: '${TOKEN:-default-token-0123456789}' },
      },
      { PORT: '8181', SECRET: 'from-the-environment-123' },
    );
    expect(c.listen.port).toBe(8181);
    expect(c.affinity.secret).toBe('from-the-environment-123');
    expect(c.admin.token).toBe('default-token-0123456789');
  });
});

describe('config problems are reported with their path', () => {
  it.each<[string, unknown, string]>([
    ['no upstreams', { upstreams: [] }, 'upstreams: at least one upstream is required'],
    ['missing upstreams', {}, 'upstreams:'],
    ['unknown top-level key', { ...minimal, lisen: {} }, 'lisen: unknown key'],
    ['unknown nested key', { ...minimal, affinity: { cokie: 'x' } }, 'affinity.cokie: unknown key'],
    [
      'a tracing endpoint that is not a URL',
      { ...minimal, tracing: { otlp: { endpoint: 'collector:4318' } } },
      'tracing.otlp.endpoint: must be an http:// or https:// URL',
    ],
    [
      'a sample ratio above 1',
      { ...minimal, tracing: { otlp: { endpoint: 'http://c:4318/v1/traces' }, sampleRatio: 2 } },
      'tracing.sampleRatio',
    ],
    ['an unknown tracing key', { ...minimal, tracing: { exporter: 'jaeger' } }, 'tracing'],
    [
      'an export header name that is not a token',
      { ...minimal, tracing: { otlp: { endpoint: 'http://c:4318/v1/traces', headers: { 'x a': '1' } } } },
      'tracing.otlp.headers.x a: is not a header name',
    ],
    [
      'an export header value with a line break',
      {
        ...minimal,
        tracing: { otlp: { endpoint: 'http://c:4318/v1/traces', headers: { authorization: 'a\r\nx: y' } } },
      },
      'tracing.otlp.headers.authorization: must be a header value without control characters',
    ],
    [
      'an export header the exporter sets itself',
      {
        ...minimal,
        tracing: { otlp: { endpoint: 'http://c:4318/v1/traces', headers: { 'Content-Type': 'x' } } },
      },
      'tracing.otlp.headers.Content-Type: is set by the exporter itself',
    ],
    [
      'a header size past 1MiB',
      { ...minimal, limits: { maxHeaderSize: '1GiB' } },
      'limits.maxHeaderSize: must be at most 1MiB',
    ],
    [
      'a header size under 1KiB',
      { ...minimal, limits: { maxHeaderSize: 100 } },
      'limits.maxHeaderSize: must be at least 1KiB',
    ],
    [
      'a short read token',
      { ...minimal, admin: { readToken: 'short' } },
      'admin.readToken: must be at least 16 characters',
    ],
    [
      'an allowed host with a port',
      { ...minimal, admin: { allowedHosts: ['a.example:9090'] } },
      'admin.allowedHosts[0]: must be a host name',
    ],
    [
      'bad url',
      { upstreams: [{ name: 'a', url: 'not a url' }] },
      'upstreams[0].url: "not a url" is not a URL',
    ],
    [
      'ftp url',
      { upstreams: [{ name: 'a', url: 'ftp://x' }] },
      'upstreams[0].url: must be http:// or https://',
    ],
    [
      'url with path',
      { upstreams: [{ name: 'a', url: 'http://x/connect' }] },
      'upstreams[0].url: must be an origin only',
    ],
    [
      'unsafe name',
      { upstreams: [{ name: 'a b', url: 'http://x' }] },
      'upstreams[0].name: must be 1-63 characters',
    ],
    ['name with slash', { upstreams: [{ name: '../a', url: 'http://x' }] }, 'upstreams[0].name:'],
    [
      'duplicate name',
      {
        upstreams: [
          { name: 'a', url: 'http://x' },
          { name: 'A', url: 'http://y' },
        ],
      },
      'upstreams[1].name: duplicate name "A"',
    ],
    [
      'duplicate url',
      {
        upstreams: [
          { name: 'a', url: 'http://x' },
          { name: 'b', url: 'http://x/' },
        ],
      },
      'upstreams[1].url: duplicate url',
    ],
    [
      'bad duration',
      { ...minimal, healthCheck: { interval: '2 seconds' } },
      'healthCheck.interval: "2 seconds" is not a duration',
    ],
    [
      'bare number duration',
      { ...minimal, timeouts: { connect: 5 } },
      'timeouts.connect: must be a duration',
    ],
    [
      'timeout >= interval',
      { ...minimal, healthCheck: { interval: '1s', timeout: '1s' } },
      'healthCheck.timeout: must be shorter',
    ],
    ['bad state', { upstreams: [{ name: 'a', url: 'http://x', state: 'off' }] }, 'upstreams[0].state:'],
    ['weight 0', { upstreams: [{ name: 'a', url: 'http://x', weight: 0 }] }, 'upstreams[0].weight:'],
    ['port range', { ...minimal, listen: { port: 70000 } }, 'listen.port:'],
    [
      'short secret',
      { ...minimal, affinity: { secret: 'short' } },
      'affinity.secret: must be at least 16 characters',
    ],
    [
      'SameSite=None without Secure',
      { ...minimal, affinity: { sameSite: 'None', secure: false } },
      'affinity.secure: SameSite=None requires Secure',
    ],
    [
      'bad cookie name',
      { ...minimal, affinity: { cookie: 'a b' } },
      'affinity.cookie: must be a cookie token',
    ],
    [
      'bad trusted proxy',
      { ...minimal, trustedProxies: ['10.0.0.0/33'] },
      'trustedProxies[0]: must be an IP address or CIDR',
    ],
    [
      'unset env var',
      { ...minimal, affinity: { secret: '${NOPE}' } },
      'affinity.secret: environment variable NOPE is not set',
    ],
    [
      'a sharedState.url PostgreSQL cannot parse (issue 22.9)',
      { ...minimal, sharedState: { url: 'postgres://u:secret@db.example:99999/x' } },
      'sharedState.url: must be a postgres:// URL with a host',
    ],
    [
      'a sharedState.url with no host',
      { ...minimal, sharedState: { url: 'postgres://' } },
      'sharedState.url: must be a postgres:// URL with a host',
    ],
    [
      'a timer longer than node can wait (issue 32.9): timeouts.clientBody',
      { ...minimal, timeouts: { clientBody: '600h' } },
      'timeouts.clientBody: "600h" is longer than a timer can wait',
    ],
    [
      'a timer longer than node can wait: shutdownDelay',
      { ...minimal, shutdownDelay: '600h' },
      'shutdownDelay: "600h" is longer than a timer can wait',
    ],
    [
      'a timer longer than node can wait: healthCheck.interval',
      { ...minimal, healthCheck: { interval: '596.6h' } },
      'healthCheck.interval: "596.6h" is longer than a timer can wait',
    ],
    [
      'an adopted cookie of a kind stickylb does not read',
      { ...minimal, affinity: { adopt: [{ cookie: 'SERVERID', kind: 'nginx' }] } },
      'affinity.adopt[0].kind: must be one of haproxy, traefik, ingress-nginx',
    ],
    [
      'an ingress-nginx cookie without its backend name',
      { ...minimal, affinity: { adopt: [{ cookie: 'posit-connect', kind: 'ingress-nginx' }] } },
      'affinity.adopt[0].backend: ingress-nginx salts its cookie with the backend name',
    ],
    [
      'adopted values naming no upstream',
      { ...minimal, affinity: { adopt: [{ cookie: 'SRV', kind: 'haproxy', values: { zz: 'c1' } }] } },
      'affinity.adopt[0].values.zz: names no upstream (a)',
    ],
    [
      "adopting stickylb's own cookie",
      { ...minimal, affinity: { adopt: [{ cookie: 'stickylb', kind: 'haproxy' }] } },
      "affinity.adopt[0].cookie: is stickylb's own cookie",
    ],
    [
      'bad size',
      { ...minimal, limits: { maxBodySize: '10 parsecs' } },
      'limits.maxBodySize: "10 parsecs" is not a size',
    ],
  ])('%s', (_name, tree, expected) => {
    const found = problems(tree);
    expect(
      found.some((p) => p.startsWith(expected)),
      `${JSON.stringify(found)} has ${expected}`,
    ).toBe(true);
  });

  it('a sharedState.url problem never echoes the password', () => {
    const found = problems({ ...minimal, sharedState: { url: 'postgres://u:hunter2-secret@h:99999/x' } });
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('reports every problem at once', () => {
    expect(problems({ upstreams: [{ name: 'a b', url: 'x' }], foo: 1 }).length).toBe(3);
  });

  it('rejects invalid YAML with its line', () => {
    expect(() => parseConfigText('upstreams:\n  - name: a\n   url: [', {})).toThrow(/yaml \(line \d+/);
  });

  it.each([
    [
      'at the root',
      '__proto__:\n  polluted: 1\nupstreams:\n  - { name: a, url: "http://127.0.0.1:1" }\n',
      '__proto__: not allowed',
    ],
    [
      'in an upstream',
      'upstreams:\n  - name: a\n    url: http://127.0.0.1:1\n    __proto__: { x: 1 }\n',
      'upstreams[0].__proto__: not allowed',
    ],
    [
      'constructor',
      'constructor: 1\nupstreams:\n  - { name: a, url: "http://127.0.0.1:1" }\n',
      'constructor: not allowed',
    ],
  ])(
    'names a __proto__ key %s as itself (regression: reported as "polluted: unknown key")',
    (_where, text, problem) => {
      let problems: readonly string[] = [];
      try {
        parseConfigText(text, {});
      } catch (err) {
        problems = (err as ConfigError).problems;
      }
      expect(problems).toEqual([problem]);
    },
  );

  it('rejects duplicate YAML keys', () => {
    expect(() => parseConfigText('upstreams: []\nupstreams: []\n', {})).toThrow(ConfigError);
  });
});

describe('config/stickylb.example.yaml', () => {
  const text = readFileSync(new URL('../../config/stickylb.example.yaml', import.meta.url), 'utf8');

  it('is valid', () => {
    expect(() => parseConfigText(text, { STICKYLB_SECRET: 'example-secret-0123456789' })).not.toThrow();
  });

  it('names every key of the schema', () => {
    const defaults = parseConfig(
      {
        ...minimal,
        admin: { token: 'x'.repeat(16) },
        affinity: { secret: 'x'.repeat(16) },
        healthCheck: { expectStatus: [200], host: 'h' },
        listen: { tls: { cert: 'c', key: 'k' } },
      },
      {},
    );
    // Full key paths (`listen.tls.cert`, `upstreams[].weight`): a key named anywhere else does not count.
    const paths = (tree: unknown, prefix = ''): string[] => {
      if (Array.isArray(tree))
        return tree.some((v) => v !== null && typeof v === 'object')
          ? tree.flatMap((v) => paths(v, `${prefix}[]`))
          : [];
      if (tree === null || typeof tree !== 'object') return [];
      return Object.entries(tree).flatMap(([k, v]) => {
        const path = prefix === '' ? k : `${prefix}.${k}`;
        return [path, ...paths(v, path)];
      });
    };
    // The example's commented-out keys count as named: `# key:` uncommented in place keeps its nesting.
    const uncommented = text
      .split('\n')
      .map((line) => line.replace(/^(\s*)# (\s*(?:- )?[a-z][A-Za-z0-9]*:(?:\s|$))/, '$1$2'))
      .join('\n');
    const named = new Set(paths(parseDocument(uncommented, { uniqueKeys: false }).toJS()));
    const wanted = new Set(
      paths(defaults).concat(paths({ upstreams: [{ name: 'a', url: 'u', weight: 1, state: 's' }] })),
    );
    for (const path of wanted) expect(named.has(path), `example lacks ${path}`).toBe(true);
  });
});
