/**
 * The status page: one self-contained HTML document (no build step, no CDN) that polls
 * `/api/nodes` every two seconds and offers drain / maintenance / activate buttons, which ask for the
 * admin token once and keep it in sessionStorage (as reads do when `admin.readToken` is set).
 */
import { VERSION } from '../../version.js';

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#6b7385;--line:#e3e6ec;--up:#1f9d55;--down:#d64545;--warn:#c98a04;--unk:#8a94a6}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:1rem;padding:1rem 1.5rem;background:var(--card);border-bottom:1px solid var(--line)}
header h1{font-size:1.15rem;margin:0}header .meta{color:var(--mute)}main{padding:1.25rem 1.5rem}
.summary{display:flex;gap:.75rem;margin-bottom:1rem;flex-wrap:wrap}.pill{background:var(--card);border:1px solid var(--line);border-radius:999px;padding:.3rem .8rem}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600;color:var(--mute);font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
td.node{overflow-wrap:anywhere;min-width:10rem}td.num,td.nowrap{white-space:nowrap}.actions{display:flex;flex-wrap:wrap;gap:.25rem}
tr:last-child td{border-bottom:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:4px;color:#fff;font-weight:600;font-size:.8rem}
.h-up{background:var(--up)}.h-down{background:var(--down)}.h-unknown{background:var(--unk)}
.s-active{color:var(--up)}.s-draining{color:var(--warn)}.s-maintenance{color:var(--down)}
button{font:inherit;font-size:.85rem;border:1px solid var(--line);background:#fff;border-radius:5px;padding:.15rem .5rem;cursor:pointer}button:hover{border-color:var(--ink)}
.safe{color:var(--up);font-weight:600}.spark{display:block;margin-top:.2rem;color:var(--mute)}.events{list-style:none;padding:0;margin:.25rem 0 1rem;max-height:14rem;overflow-y:auto}.events li{padding:.15rem 0;border-bottom:1px solid var(--line)}h2.small{margin:1rem 0 0;text-transform:uppercase;letter-spacing:.03em}.wrap{overflow-x:auto}.err{color:var(--down);margin-top:.75rem}.small{color:var(--mute);font-size:.85rem}
`;

const SCRIPT = `
const $ = (s) => document.querySelector(s);
let last = new Map();
let history = { samples: [], events: [] };
/** A 15-minute sparkline of one node's series, as inline SVG (no charting library). */
function spark(name, key){
  const values = history.samples.map((s)=>s.nodes[name]?.[key] ?? 0);
  if(values.length < 2) return '';
  const max = Math.max(1, ...values), w = 90, h = 18;
  const pts = values.map((v,i)=>(i*w/(values.length-1)).toFixed(1)+','+(h-v*h/max).toFixed(1)).join(' ');
  return '<svg class="spark" data-series="'+key+'" width="'+w+'" height="'+h+'" viewBox="0 0 '+w+' '+h+'"><title>last 15 min, max '+max+'</title><polyline fill="none" stroke="currentColor" stroke-width="1.2" points="'+pts+'"/></svg>';
}
async function refreshHistory(){
  try{
    const res = await fetch('api/history',{cache:'no-store',headers:auth()});
    if(!res.ok) return;
    history = await res.json();
    $('#events').innerHTML = history.events.map((e)=>'<li><span class="small">'+new Date(e.t).toLocaleTimeString()+'</span> '+(e.node?'<strong>'+esc(e.node)+'</strong> ':'')+esc(e.text)+'</li>').join('') || '<li class="small">nothing yet</li>';
  }catch{}
}
let asked = false;
function auth(){ const t = sessionStorage.getItem('stickylb-token'); return t ? {authorization:'Bearer '+t} : {}; }
function esc(v){return String(v).replace(/[&<>"']/g,(c)=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
function ago(s){if(s<60)return s+'s';if(s<3600)return Math.floor(s/60)+'m '+(s%60)+'s';return Math.floor(s/3600)+'h '+Math.floor(s%3600/60)+'m';}
async function refresh(){
  try{
    let res = await fetch('api/nodes',{cache:'no-store',headers:auth()});
    if(res.status===401 && !asked){
      // admin.readToken is set: ask once per page for a token that may read.
      asked = true; sessionStorage.removeItem('stickylb-token');
      const t = prompt('Token to read node state (admin.readToken or admin.token)');
      if(t){ sessionStorage.setItem('stickylb-token', t); res = await fetch('api/nodes',{cache:'no-store',headers:auth()}); }
    }
    if(res.status===401){ $('#error').textContent = 'Reading node state needs a token (admin.readToken).'; return; }
    const nodes = await res.json();
    const now = performance.now();
    const rows = nodes.map((n)=>{
      const prev = last.get(n.name);
      const rate = prev ? ((n.requests-prev.requests)/((now-prev.t)/1000)) : 0;
      last.set(n.name,{requests:n.requests,t:now});
      const p = n.lastProbe;
      const probe = p ? (p.ok?'ok':'fail')+' '+(p.status??p.error??'')+' · '+p.latencyMs+' ms' : '–';
      return '<tr data-node="'+esc(n.name)+'" data-health="'+esc(n.health)+'" data-state="'+esc(n.state)+'">'+
        '<td class="node"><strong>'+esc(n.name)+'</strong><div class="small">'+esc(n.url)+'</div>'+
          (n.busiestContents&&n.busiestContents.length?'<div class="small">apps: '+n.busiestContents.map((c)=>esc(c.content.slice(0,8))+' ('+c.sessions+')').join(', ')+'</div>':'')+
          (n.failingContents&&n.failingContents.length?'<div class="small err failing">'+(n.degraded?'<strong>degraded</strong> · ':'')+'failing here: '+n.failingContents.map((f)=>esc(f.name||f.path||f.content.slice(0,8))+' ('+f.failures+(f.nextTrial?', trial at '+new Date(f.nextTrial).toLocaleTimeString():'')+')').join(', ')+'</div>':'')+'</td>'+
        '<td class="nowrap"><span class="badge h-'+esc(n.health)+'">'+(n.unlicensed?'unlicensed':esc(n.health))+'</span>'+
          (n.slowStartShare!=null?'<div class="small">slow start '+Math.round(n.slowStartShare*100)+'%</div>':'')+'</td>'+
        '<td class="s-'+esc(n.state)+'">'+esc(n.state)+(n.outdated?' (outdated)':'')+
          '<div class="small">'+(n.stateSource.origin==='api'?'API'+(n.stateSource.by?' · '+esc(n.stateSource.by):''):'config')+'</div>'+
          (n.safeToStop?'<div class="small safe">safe to stop</div>':
            n.state!=='active'&&n.waitingFor.length?'<div class="small">waiting for '+esc(n.waitingFor.join(', '))+'</div>':'')+'</td>'+
        '<td class="num">'+n.inFlight+'</td><td class="num">'+n.websockets+spark(n.name,'websockets')+'</td>'+
        '<td class="num">'+rate.toFixed(1)+'/s'+spark(n.name,'rps')+'</td><td>'+esc(probe)+'</td>'+
        '<td class="nowrap">'+ago(n.sinceSeconds)+'</td><td>'+esc(n.version??'–')+(n.clockSkewSeconds!=null&&Math.abs(n.clockSkewSeconds)>1?' · skew '+n.clockSkewSeconds+'s':'')+'</td>'+
        '<td><div class="actions"><button data-act="drain">Drain</button><button data-act="maintenance">Maintenance</button><button data-act="activate">Activate</button>'+(n.failingContents&&n.failingContents.length?'<button data-act="clear-ejections">Give apps back</button>':'')+'</div></td></tr>';
    });
    $('#nodes tbody').innerHTML = rows.join('');
    const up = nodes.filter((n)=>n.health==='up').length;
    $('#summary').innerHTML = '<span class="pill">'+up+' of '+nodes.length+' nodes up</span>'+
      '<span class="pill">'+nodes.reduce((a,n)=>a+n.inFlight,0)+' requests in flight</span>'+
      '<span class="pill">'+nodes.reduce((a,n)=>a+n.websockets,0)+' open WebSockets</span>';
    $('#error').textContent = '';
    $('#updated').textContent = 'updated '+new Date().toLocaleTimeString();
  }catch(e){ $('#error').textContent = 'Cannot reach the balancer: '+e.message; }
}
document.addEventListener('click', async (ev)=>{
  const b = ev.target.closest('button[data-act]'); if(!b) return;
  const name = b.closest('tr').dataset.node;
  let token = sessionStorage.getItem('stickylb-token');
  if(!token){ token = prompt('Admin token (admin.token in the configuration)'); if(!token) return; }
  const res = await fetch('api/nodes/'+encodeURIComponent(name)+'/'+b.dataset.act,{method:'POST',headers:{authorization:'Bearer '+token}});
  if(res.status===401){ sessionStorage.removeItem('stickylb-token'); $('#error').textContent='Wrong admin token.'; return; }
  if(!res.ok){ const body = await res.json().catch(()=>({})); $('#error').textContent = body.error || ('Request failed: '+res.status); return; }
  sessionStorage.setItem('stickylb-token', token);
  refresh();
});
refreshHistory().then(refresh); setInterval(refresh, 2000); setInterval(refreshHistory, 5000);
`;

/** The status page HTML. */
export function statusPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>stickylb status</title><style>${STYLE}</style></head><body>
<header><h1>stickylb</h1><span class="meta">v${VERSION}</span><span class="meta" id="updated"></span></header>
<main><div class="summary" id="summary"></div>
<div class="wrap"><table id="nodes"><thead><tr><th>Node</th><th>Health</th><th>State</th><th>In flight</th><th>WebSockets</th><th>Requests</th><th>Last probe</th><th>In state for</th><th>Connect</th><th>Actions</th></tr></thead><tbody></tbody></table></div>
<div class="err" id="error"></div>
<h2 class="small">Recent events</h2><ul id="events" class="events"></ul>
<p class="small">Drain: keep pinned clients, take no new ones (rolling upgrades). Maintenance: take nothing; pinned clients move. Metrics at <a href="metrics">/metrics</a>, JSON at <a href="api/nodes">/api/nodes</a>.</p>
</main><script>${SCRIPT}</script></body></html>`;
}
