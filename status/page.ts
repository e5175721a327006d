// The status page itself: two small HTML documents (login and the page), one stylesheet and
// one script, as strings (no build step, no external asset: it works on a pole LAN with no
// internet). Mobile first (a phone at 390 px wide), readable in sunlight, colour never alone
// (every state is also written). The script follows /status/events (server-sent events) and
// renders with textContent only. Content-Security-Policy allows nothing but this origin.
import { STATUS_PATH } from './config.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const head = (title: string, extra = '') =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
  `<meta name="color-scheme" content="light dark"><title>${esc(title)}</title><link rel="icon" href="data:,">` +
  `<link rel="stylesheet" href="${STATUS_PATH}/app.css">${extra}</head>`;

const LOGIN_ERRORS: Record<string, string> = {
  credentials: 'Wrong user name or password.',
  too_many_attempts: 'Too many failed logins from this device. Wait 10 minutes and try again.',
  origin: 'The login came from another site and was refused.',
};

export function loginPage(gateway: string, error?: string): string {
  const msg = error ? LOGIN_ERRORS[error] ?? 'Login refused.' : '';
  return `${head(`Log in - ${gateway}`)}<body class="login"><form method="post" action="${STATUS_PATH}/login">` +
    `<h1>Wayside</h1><p class="sub">Gateway <b>${esc(gateway)}</b></p>` +
    `<label>User name<input name="username" autocomplete="username" autocapitalize="none" required maxlength="64"></label>` +
    `<label>Password<input type="password" name="password" autocomplete="current-password" required maxlength="256"></label>` +
    (msg ? `<p class="err" role="alert" id="login-error">${esc(msg)}</p>` : '') +
    `<button type="submit">Log in</button></form></body></html>`;
}

export function appPage(gateway: string, csrf: string, user: string): string {
  return `${head(`${gateway} - Wayside status`, `<meta name="csrf" content="${esc(csrf)}">`)}<body>` +
    `<header><div><h1 id="gw">${esc(gateway)}</h1><p class="sub" id="ident"></p></div>` +
    `<div class="who"><span id="status" class="chip">…</span><button id="logout" type="button" title="Log out ${esc(user)}">Log out</button></div></header>` +
    `<main><p id="conn" class="conn">Connecting…</p><section id="summary" class="grid"></section>` +
    `<section id="problems" class="problems" hidden></section>` +
    `<h2>Devices</h2><div id="devices"></div><h2>Recent events</h2><ol id="events" class="events"></ol></main>` +
    `<script src="${STATUS_PATH}/app.js"></script></body></html>`;
}

export const CSS = `*{box-sizing:border-box}
:root{--ok:#15803d;--warn:#b45309;--bad:#c81e1e;--off:#6b7280;--bg:#f6f7f9;--card:#fff;--fg:#111827;--mute:#4b5563;--line:#e5e7eb}
@media (prefers-color-scheme:dark){:root{--bg:#0f141a;--card:#1a222c;--fg:#f3f4f6;--mute:#a1a9b4;--line:#2c3642;--ok:#22c55e;--warn:#f59e0b;--bad:#f05252;--off:#9ca3af}}
body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;justify-content:space-between;align-items:flex-start;gap:.5rem;padding:.75rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:1.25rem;margin:0;word-break:break-all}h2{font-size:1.05rem;margin:1.25rem 0 .5rem}
.sub{margin:.1rem 0 0;color:var(--mute);font-size:.85rem}
.who{display:flex;flex-direction:column;align-items:flex-end;gap:.4rem}
main{padding:.5rem 1rem 2rem;max-width:60rem;margin:0 auto}
button{white-space:nowrap;font:inherit;min-height:44px;padding:.4rem .9rem;border-radius:.5rem;border:1px solid var(--line);background:var(--card);color:var(--fg)}
button:disabled{opacity:.6}
.chip{display:inline-block;padding:.1rem .6rem;border-radius:1rem;font-size:.85rem;font-weight:600;color:#fff;background:var(--off)}
.ok{--c:var(--ok)}.warn{--c:var(--warn)}.bad{--c:var(--bad)}.off{--c:var(--off)}
.chip.ok,.chip.warn,.chip.bad,.chip.off{background:var(--c)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.5rem}
.tile{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--c,var(--line));border-radius:.5rem;padding:.5rem .75rem}
.tile b{display:block;font-size:.8rem;color:var(--mute);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.tile span{font-size:1.05rem}
.problems{margin-top:.5rem;background:var(--card);border:1px solid var(--line);border-left:6px solid var(--warn);border-radius:.5rem;padding:.5rem .75rem}
.problems ul{margin:.25rem 0 0;padding-left:1.2rem}
.dev{background:var(--card);border:1px solid var(--line);border-left:8px solid var(--c,var(--off));border-radius:.5rem;padding:.6rem .75rem;margin-bottom:.6rem}
.dev-h{display:flex;justify-content:space-between;align-items:center;gap:.5rem}
.dev-h h3{margin:0;font-size:1.05rem;word-break:break-all}
.state{font-weight:700;color:var(--c)}.state::before{content:"";display:inline-block;width:.7em;height:.7em;border-radius:50%;background:var(--c);margin-right:.35em}
.meta{color:var(--mute);font-size:.85rem;margin:.15rem 0}
.err{color:var(--bad);font-size:.9rem;margin:.25rem 0;word-break:break-word}
table{width:100%;border-collapse:collapse;margin:.35rem 0;font-variant-numeric:tabular-nums}
td{padding:.2rem 0;border-top:1px solid var(--line);vertical-align:top}td.v{text-align:right;font-weight:600}td.u{padding-left:.3rem;color:var(--mute);width:3.5rem}
tr.stale td{color:var(--mute)}
.acts{display:flex;align-items:center;gap:.6rem;flex-wrap:wrap}.res{font-size:.9rem;color:var(--mute)}.res.bad{color:var(--bad)}
.cam{position:relative;margin:.4rem 0;background:#000;border-radius:.35rem;overflow:hidden;line-height:0}
.cam img{width:100%;height:auto}.box{position:absolute;border:2px solid #facc15;line-height:1.2}
.box i{position:absolute;left:-2px;top:-1.3em;background:#facc15;color:#000;font:600 .7rem/1.3 system-ui;padding:0 .25rem;white-space:nowrap;font-style:normal}
.events{list-style:none;padding:0;margin:0}.events li{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--c,var(--off));border-radius:.4rem;padding:.35rem .6rem;margin-bottom:.35rem;font-size:.9rem}
.events time{color:var(--mute);margin-right:.4rem}
.conn{font-size:.85rem;color:var(--mute);margin:.25rem 0}.conn.bad{color:var(--bad);font-weight:600}
body.login{display:flex;min-height:100vh;align-items:center;justify-content:center;padding:1rem}
.login form{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.25rem;width:100%;max-width:22rem}
.login label{display:block;margin:.75rem 0;font-weight:600}.login input{display:block;width:100%;font:inherit;padding:.6rem;margin-top:.25rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg)}
.login button{width:100%;margin-top:.5rem;background:var(--ok);color:#fff;border:0;font-weight:600}
`;

// Plain ES5-style script (no backticks: it lives in a template string).
export const JS = `(function () {
'use strict';
var BASE = '${STATUS_PATH}';
var csrf = document.querySelector('meta[name=csrf]').getAttribute('content');
var CLS = { online: 'ok', degraded: 'warn', starting: 'warn', offline: 'bad', stopped: 'off' };
var SEV = { info: 'off', warning: 'warn', critical: 'bad' };
var model = { head: null, points: {}, events: [] };
var cards = {};
var shown = {};
function $(id) { return document.getElementById(id); }
function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function ago(ts) {
  if (!ts) return 'never';
  var s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 172800) return Math.floor(s / 3600) + ' h ago';
  return Math.floor(s / 86400) + ' d ago';
}
function dur(ms) { var s = Math.round(ms / 1000); return s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' : s < 172800 ? Math.floor(s / 3600) + ' h' : Math.floor(s / 86400) + ' d'; }
function val(v) { return typeof v === 'number' ? (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : String(Number(v.toPrecision(5)))) : String(v); }
function clock(ts) { var d = new Date(ts); return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }); }
function tile(label, text, cls) { var t = el('div', 'tile ' + (cls || '')); t.appendChild(el('b', '', label)); t.appendChild(el('span', '', text)); return t; }

function renderHead() {
  var h = model.head; if (!h) return;
  $('gw').textContent = h.gateway;
  var id = h.identity;
  var dep = h.deployed ? (h.deployed.config ? ' · config ' + h.deployed.config : '') + (h.deployed.flows ? ' · flows ' + h.deployed.flows : '') : '';
  $('ident').textContent = (h.site ? h.site + ' · ' : '') + 'wayside ' + h.versions.wayside + ' · node ' + h.versions.node + dep +
    (id ? (id.enrolled ? ' · enrolled' + (id.platformKeyFingerprint ? ' (' + id.platformKeyFingerprint.slice(0, 16) + ')' : '') : ' · not enrolled') : '');
  var st = $('status'); st.textContent = h.status === 'ok' ? 'OK' : 'Degraded'; st.className = 'chip ' + (h.status === 'ok' ? 'ok' : 'warn');
  var sum = $('summary'); sum.textContent = '';
  var up = h.uplink;
  sum.appendChild(tile('Uplink', !up.enabled ? 'off' : up.connected ? 'connected' : 'disconnected', !up.enabled ? 'off' : up.connected ? 'ok' : 'bad'));
  var ob = h.outbox;
  sum.appendChild(tile('Outbox', ob.depth + ' waiting', ob.diskFull ? 'bad' : ob.depth > 0 && up.enabled && !up.connected ? 'warn' : 'ok'));
  sum.appendChild(tile('Oldest', ob.depth ? dur(ob.oldestAgeMs) : '-', ''));
  sum.appendChild(tile('Dropped', String(ob.dropped), ob.dropped ? 'warn' : ''));
  sum.appendChild(tile('Up for', dur(h.uptimeS * 1000), ''));
  var pr = $('problems'); pr.textContent = '';
  pr.hidden = !h.problems.length;
  if (h.problems.length) {
    pr.appendChild(el('b', '', 'Problems'));
    var ul = el('ul'); h.problems.forEach(function (p) { ul.appendChild(el('li', '', p)); }); pr.appendChild(ul);
  }
}

function card(d) {
  var c = cards[d.id];
  if (c) return c;
  var root = el('article', 'dev'); root.setAttribute('data-device', d.id);
  var hd = el('div', 'dev-h'); var title = el('h3', '', d.id); var state = el('span', 'state');
  hd.appendChild(title); hd.appendChild(state); root.appendChild(hd);
  var meta = el('p', 'meta'); root.appendChild(meta);
  var err = el('p', 'err'); err.hidden = true; root.appendChild(err);
  var cam = null;
  if (d.camera) {
    cam = el('div', 'cam'); cam.hidden = true;
    var img = el('img'); img.alt = 'last frame of ' + d.id; cam.appendChild(img); root.appendChild(cam);
  }
  var table = el('table'); var tbody = el('tbody'); table.appendChild(tbody); root.appendChild(table);
  var acts = el('div', 'acts'); var btn = null;
  if (!d.camera) {
    btn = el('button', 'read', 'Read now'); btn.type = 'button';
    btn.addEventListener('click', function () { readNow(d.id); });
    acts.appendChild(btn);
  }
  var res = el('span', 'res'); acts.appendChild(res); root.appendChild(acts);
  c = { root: root, state: state, meta: meta, err: err, tbody: tbody, rows: {}, btn: btn, res: res, cam: cam };
  cards[d.id] = c;
  return c;
}

function renderDevices() {
  var h = model.head; if (!h) return;
  var box = $('devices');
  var seen = {};
  h.devices.forEach(function (d, i) {
    var c = card(d); seen[d.id] = true;
    if (box.children[i] !== c.root) box.insertBefore(c.root, box.children[i] || null);
    var cls = CLS[d.state] || 'off';
    c.root.className = 'dev ' + cls; c.root.setAttribute('data-state', d.state);
    c.state.textContent = d.state;
    var last = d.lastReadingTs || 0; var pts = model.points[d.id] || {};
    Object.keys(pts).forEach(function (p) { if (pts[p][3] > last) last = pts[p][3]; });
    c.meta.textContent = d.driver + ' · last reading ' + ago(last) + (d.errors ? ' · ' + d.errors + ' errors' : '') + (d.quality ? ' · ' + d.quality.join(', ') : '');
    c.err.hidden = !(d.lastError && d.state !== 'online');
    c.err.textContent = d.lastError || '';
    renderPoints(d.id, c);
  });
  Object.keys(cards).forEach(function (id) { if (!seen[id]) { cards[id].root.remove(); delete cards[id]; } });
}

function renderPoints(id, c) {
  var pts = model.points[id] || {};
  Object.keys(pts).sort().forEach(function (p) {
    var v = pts[p];
    var r = c.rows[p];
    if (!r) {
      var tr = el('tr'); tr.setAttribute('data-point', p);
      r = { tr: tr, n: el('td', 'n', p), v: el('td', 'v'), u: el('td', 'u') };
      tr.appendChild(r.n); tr.appendChild(r.v); tr.appendChild(r.u);
      c.rows[p] = r;
      var after = null; var names = Object.keys(c.rows).sort(); var at = names.indexOf(p);
      if (at + 1 < names.length) after = c.rows[names[at + 1]].tr;
      c.tbody.insertBefore(tr, after);
    }
    r.v.textContent = val(v[0]); r.u.textContent = v[1] || '';
    r.tr.title = v[2] + ' · ' + clock(v[3]);
    r.tr.className = v[2] !== 'good' ? 'stale' : '';
  });
}

function renderEvents() {
  var ol = $('events'); ol.textContent = '';
  if (!model.events.length) { ol.appendChild(el('li', '', 'No events since the agent started.')); return; }
  model.events.forEach(function (e) {
    var li = el('li', SEV[e.severity] || 'off');
    li.appendChild(el('time', '', clock(e.ts)));
    li.appendChild(el('b', '', e.type + (e.state ? ' ' + e.state : '')));
    li.appendChild(document.createTextNode((e.device ? ' · ' + e.device + (e.point ? '/' + e.point : '') : '') + (e.text ? ' · ' + e.text : '')));
    ol.appendChild(li);
  });
}

function render() { renderHead(); renderDevices(); renderEvents(); }

function readNow(id) {
  var c = cards[id]; if (!c || !c.btn) return;
  c.btn.disabled = true; c.res.className = 'res'; c.res.textContent = 'Reading…';
  fetch(BASE + '/api/devices/' + encodeURIComponent(id) + '/read', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' })
    .then(function (r) { return r.json(); })
    .then(function (j) {
      c.res.className = j.ok ? 'res' : 'res bad';
      c.res.textContent = j.ok ? 'Read at ' + clock(Date.now()) : (j.error && j.error.message) || 'read failed';
    }, function () { c.res.className = 'res bad'; c.res.textContent = 'No answer from the agent'; })
    .then(function () { c.btn.disabled = false; });
}

function refreshCameras() {
  if (document.hidden || !model.head) return;
  model.head.devices.forEach(function (d) {
    var c = cards[d.id]; if (!d.camera || !c || !c.cam) return;
    fetch(BASE + '/camera/' + encodeURIComponent(d.id) + '.json', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (s) {
      if (!s.frame || shown[d.id] === s.ts) return;
      shown[d.id] = s.ts;
      var img = c.cam.querySelector('img');
      img.onload = function () {
        c.cam.hidden = false;
        Array.prototype.slice.call(c.cam.querySelectorAll('.box')).forEach(function (b) { b.remove(); });
        s.detections.forEach(function (x) {
          var b = el('div', 'box');
          b.style.left = (100 * x.box[0] / s.width) + '%'; b.style.top = (100 * x.box[1] / s.height) + '%';
          b.style.width = (100 * x.box[2] / s.width) + '%'; b.style.height = (100 * x.box[3] / s.height) + '%';
          b.appendChild(el('i', '', x.label + ' ' + Math.round(x.score * 100) + '%'));
          c.cam.appendChild(b);
        });
      };
      img.src = BASE + '/camera/' + encodeURIComponent(d.id) + '.jpg?ts=' + s.ts;
    }, function () {});
  });
}

function merge(d) {
  if (d.head) model.head = d.head;
  (d.readings || []).forEach(function (r) { (model.points[r[0]] = model.points[r[0]] || {})[r[1]] = r.slice(2); });
  if (d.events) {
    var have = {}; model.events.forEach(function (e) { have[e.id] = true; });
    model.events = d.events.filter(function (e) { return !have[e.id]; }).reverse().concat(model.events).slice(0, 30);
  }
}

var conn = $('conn');
var es = new EventSource(BASE + '/events');
es.addEventListener('view', function (m) { var v = JSON.parse(m.data); model = { head: v.head, points: v.points, events: v.events }; render(); refreshCameras(); });
es.addEventListener('delta', function (m) { merge(JSON.parse(m.data)); render(); });
es.addEventListener('bye', function () { es.close(); location.href = BASE + '/login'; });
es.onopen = function () { conn.className = 'conn'; conn.textContent = 'Live'; };
es.onerror = function () {
  conn.className = 'conn bad'; conn.textContent = 'Connection to the agent lost; retrying…';
  if (es.readyState === 2) location.href = BASE + '/login';
};
$('logout').addEventListener('click', function () {
  fetch(BASE + '/logout', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' }).then(function () { location.href = BASE + '/login'; });
});
setInterval(function () { renderDevices(); }, 1000);
setInterval(refreshCameras, 2000);
}());
`;
