// Opens N idle WebSockets to URL (with COOKIE) and reports on stdout; "more" opens N more; "echo"
// measures round trips over the first 100 sockets. Driven by bench/websocket.mjs through stdin/stdout lines.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const url = process.env.URL;
const n = Number(process.env.N ?? 1000);
const headers = process.env.COOKIE ? { cookie: process.env.COOKIE } : {};
const sockets = [];

async function openAll() {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await new Promise((resolve) => {
        const ws = new WebSocket(url, { headers, perMessageDeflate: false });
        ws.once('open', () => {
          sockets.push(ws);
          resolve();
        });
        ws.once('error', () => {
          failed++;
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return failed;
}

async function echo(count, rounds) {
  const rtts = [];
  const payload = Buffer.alloc(64, 'e');
  await Promise.all(
    sockets.slice(0, count).map(async (ws) => {
      for (let i = 0; i < rounds; i++) {
        const t0 = process.hrtime.bigint();
        await new Promise((resolve) => {
          ws.once('message', resolve);
          ws.send(payload);
        });
        rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  rtts.sort((a, b) => a - b);
  return {
    p50: rtts[Math.floor(rtts.length * 0.5)],
    p99: rtts[Math.floor(rtts.length * 0.99)],
    samples: rtts.length,
  };
}

const failed = await openAll();
process.stdout.write(`${JSON.stringify({ open: sockets.length, failed })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'more') {
    const more = await openAll();
    process.stdout.write(`${JSON.stringify({ open: sockets.length, failed: more })}\n`);
  }
  if (line === 'echo') process.stdout.write(`${JSON.stringify(await echo(100, 200))}\n`);
  if (line === 'close') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
}
