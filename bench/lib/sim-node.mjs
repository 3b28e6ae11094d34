// A simulated Connect node for the Connect simulation bench (issue 23): Connect's process model in
// miniature. Each content runs in processes of at most MAX_CONNS sessions (Connect's
// MaxConnsPerProcess, 20 by default); a session of a content with no process with room on this node
// starts one (a cold start: COLD_MS before the WebSocket opens, counted); a process with no session
// is reaped after IDLE_MS. GET /__sim__/stats reports cold starts, processes and sessions.
// GET /__api__/metrics/procs answers like Connect's (per process: pid, appGuid, type, ram).
// With BROKEN (a content GUID) that app cannot start on this node (rule 13): its pages answer 500
// and its WebSocket handshakes 503, while /__ping__ says 200. Cold starts are also counted per
// content (`coldByContent`).
// Usage: node sim-node.mjs NAME PORT [MAX_CONNS] [COLD_MS] [IDLE_MS] [BROKEN]
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const [name = 'node', port = '0', maxConns = '20', coldMs = '30', idleMs = '1500', broken = ''] =
  process.argv.slice(2);
const MAX_CONNS = Number(maxConns);
const COLD_MS = Number(coldMs);
const IDLE_MS = Number(idleMs);

/** content -> its processes on this node. */
const processes = new Map();
let nextPid = 1000;
let coldStarts = 0;
/** Cold starts per content since the last reset. */
let coldByContent = {};
let liveProcesses = 0;
let peakProcesses = 0;
let sessions = 0;

const CONTENT = /^\/content\/([0-9a-f-]{36})\//;

/** A process of `content` with room, or a new one (a cold start). */
function processFor(content) {
  let list = processes.get(content);
  if (list === undefined) {
    list = [];
    processes.set(content, list);
  }
  for (const p of list) {
    if (p.sessions < MAX_CONNS) {
      clearTimeout(p.reaper);
      return { proc: p, cold: false };
    }
  }
  const proc = { pid: nextPid++, content, sessions: 0, reaper: undefined };
  list.push(proc);
  coldStarts++;
  coldByContent[content] = (coldByContent[content] ?? 0) + 1;
  liveProcesses++;
  peakProcesses = Math.max(peakProcesses, liveProcesses);
  return { proc, cold: true };
}

function release(proc) {
  proc.sessions--;
  sessions--;
  if (proc.sessions > 0) return;
  proc.reaper = setTimeout(() => {
    const list = processes.get(proc.content) ?? [];
    const i = list.indexOf(proc);
    if (i >= 0 && proc.sessions === 0) {
      list.splice(i, 1);
      liveProcesses--;
    }
  }, IDLE_MS);
}

const server = createServer((req, res) => {
  const send = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.url === '/__ping__') return send(200, { ok: true });
  if (req.url === '/__sim__/stats')
    return send(200, { name, coldStarts, coldByContent, processes: liveProcesses, peakProcesses, sessions });
  if (req.url === '/__sim__/reset') {
    coldStarts = 0;
    coldByContent = {};
    peakProcesses = liveProcesses;
    return send(200, {});
  }
  if (req.url === '/__api__/metrics/procs') {
    const procs = [];
    for (const list of processes.values())
      for (const p of list)
        procs.push({ pid: p.pid, appGuid: p.content, type: 'shiny', cpuCurrent: 0, ram: 100 * 2 ** 20 });
    return send(200, procs);
  }
  if (broken !== '' && CONTENT.exec(req.url ?? '')?.[1] === broken)
    return send(500, { node: name, error: 'broken' });
  send(200, { node: name });
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const content = CONTENT.exec(req.url ?? '')?.[1];
  if (content === undefined) {
    socket.destroy();
    return;
  }
  if (content === broken) {
    socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const { proc, cold } = processFor(content);
  proc.sessions++;
  sessions++;
  const open = () => {
    if (socket.destroyed) return release(proc);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ node: name, cold }));
      ws.on('close', () => release(proc));
    });
  };
  socket.on('error', () => {});
  if (cold) setTimeout(open, COLD_MS);
  else open();
});

server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
