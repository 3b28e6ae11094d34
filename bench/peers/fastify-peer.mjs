// Another Node peer: a sticky proxy on fastify + @fastify/http-proxy (reply-from over undici), the
// cookie chosen in getUpstream and inserted in rewriteHeaders.
// TARGETS='[{"name":"a","url":"http://127.0.0.1:1"}]' PORT=0 node fastify-peer.mjs
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const targets = JSON.parse(process.env.TARGETS);
let next = 0;
const app = Fastify({ logger: false });
const pick = (request) => {
  const m = /(?:^|;\s*)SRV=([^;]+)/.exec(request.headers.cookie ?? '');
  let target = targets.find((t) => t.name === m?.[1]);
  request.stickyNew = target === undefined;
  target ??= targets[next++ % targets.length];
  request.stickyTarget = target;
  return target.url;
};
await app.register(proxy, {
  upstream: targets[0].url,
  replyOptions: {
    getUpstream: (request) => pick(request),
    rewriteHeaders: (headers, request) =>
      request?.stickyNew
        ? { ...headers, 'set-cookie': `SRV=${request.stickyTarget.name}; Path=/; HttpOnly` }
        : headers,
  },
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
