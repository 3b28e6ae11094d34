// A Shiny page load through stickylb's TLS port, HTTP/2 against HTTP/1.1 (issue 16): two real R
// Shiny apps (Debian r-cran-shiny) behind two stickylb processes that differ only in
// `listen.http2`; Debian Chromium loads the app cold (a new browser context each time: new TLS
// connections, empty cache) and the time runs from navigation until the app's output is shown, so
// the HTML, its assets and the app's WebSocket are all in it. Loads alternate between the two.
// On loopback a round trip costs nothing, and what HTTP/2 saves (connection set-ups, requests
// queued behind six connections) is round trips: so the loads also go through a TCP relay that
// delays every chunk by half the round trip each way (the `rttMs` rows), as a user's network does.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { median } from './http.mjs';
import { freePort, startStickylb } from './lib/servers.mjs';
import { makeCert } from './tls.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APP = here('../test/e2e/shiny-app');

async function startShiny(name) {
  const port = await freePort();
  const child = spawn(
    'Rscript',
    ['-e', `shiny::runApp('${APP}', port = ${port}, host = '127.0.0.1', launch.browser = FALSE)`],
    { env: { ...process.env, NODE_NAME: name }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`shiny ${name} did not start:\n${log}`)), 30_000);
    const onData = (c) => {
      log += c;
      if (log.includes('Listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  return { name, url: `http://127.0.0.1:${port}`, child };
}

/** A TCP relay to `port` that delays each chunk by `delayMs` in each direction; resolves with its port. */
async function delayRelay(port, delayMs) {
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    const relay = (from, to) => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs));
      from.on('end', () => setTimeout(() => to.end(), delayMs));
      from.on('error', () => to.destroy());
      from.on('close', () => setTimeout(() => to.destroy(), delayMs + 1));
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => server.close() };
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Resolves with { loads, assets, rows: [{ protocol, rttMs, medianMs, p90Ms }], ratios (h2 over HTTP/1.1 by RTT), rtts }, or undefined without R or Chromium. */
export async function shinyLoadBench({ loads }) {
  if (!existsSync(CHROMIUM) || spawnSync('Rscript', ['-e', 'library(shiny)']).status !== 0) {
    console.error('  shiny page load: skipped (needs chromium and r-cran-shiny)');
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  const apps = await Promise.all([startShiny('shiny-1'), startShiny('shiny-2')]);
  const tls = makeCert();
  const secret = 'bench-secret-0123456789abcdef';
  const cli = here('../dist/cli.js');
  const lbs = {
    h2: await startStickylb(cli, apps, secret, { healthCheck: { path: '/' } }, { ...tls, http2: true }),
    'http/1.1': await startStickylb(
      cli,
      apps,
      secret,
      { healthCheck: { path: '/' } },
      { ...tls, http2: false },
    ),
  };
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--disable-dev-shm-usage',
    ],
  });
  const rtts = [0, Number(process.env.BENCH_SHINY_RTT ?? 40)];
  const times = new Map(rtts.flatMap((rtt) => ['h2', 'http/1.1'].map((p) => [`${p}@${rtt}`, []])));
  const relays = [];
  let assets = 0;
  try {
    const urls = {};
    for (const rtt of rtts) {
      for (const [protocol, lb] of Object.entries(lbs)) {
        const port = Number(new URL(lb.url).port);
        if (rtt === 0) urls[`${protocol}@${rtt}`] = lb.url;
        else {
          const relay = await delayRelay(port, rtt / 2);
          relays.push(relay);
          urls[`${protocol}@${rtt}`] = `https://127.0.0.1:${relay.port}`;
        }
      }
    }
    const loadOnce = async (key) => {
      const protocol = key.split('@')[0];
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(`${urls[key]}/`);
      await page.waitForFunction(
        () => document.querySelector('#node')?.textContent?.startsWith('shiny-'),
        undefined,
        {
          polling: 5,
        },
      );
      const ms = performance.now() - started;
      const seen = await page.evaluate(() => ({
        protocol: performance.getEntriesByType('navigation')[0].nextHopProtocol,
        resources: performance.getEntriesByType('resource').length,
      }));
      await context.close();
      if (seen.protocol !== protocol)
        throw new Error(`expected ${protocol}, the page came over ${seen.protocol}`);
      assets = seen.resources;
      return ms;
    };
    // Warm-up: R compiles the app's page on its first request, Node and Chromium warm their code.
    for (const key of times.keys()) for (let i = 0; i < 2; i++) await loadOnce(key);
    const keys = [...times.keys()];
    for (let i = 0; i < loads; i++) {
      for (const key of i % 2 === 0 ? keys : [...keys].reverse()) times.get(key).push(await loadOnce(key));
    }
  } finally {
    await browser.close();
    for (const relay of relays) relay.close();
    for (const lb of Object.values(lbs)) lb.child.kill('SIGKILL');
    for (const app of apps) app.child.kill('SIGKILL');
  }
  const rows = [...times].map(([key, ms]) => {
    const [protocol, rtt] = key.split('@');
    return {
      protocol,
      rttMs: Number(rtt),
      medianMs: Math.round(median(ms) * 10) / 10,
      p90Ms: Math.round(percentile(ms, 90) * 10) / 10,
    };
  });
  const ratios = Object.fromEntries(
    rtts.map((rtt) => [rtt, median(times.get(`h2@${rtt}`)) / median(times.get(`http/1.1@${rtt}`))]),
  );
  console.error(
    `  shiny page load: ${rows.map((r) => `${r.protocol} +${r.rttMs} ms RTT ${r.medianMs} ms`).join(', ')}, ${assets} assets`,
  );
  return { loads, assets, rows, ratios, rtts };
}
