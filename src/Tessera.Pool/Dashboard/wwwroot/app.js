// The Tessera dashboard: reads and acts through the coordinator's admin API with the session cookie (and the CSRF
// token for actions), and follows the event log as server-sent events. No framework, no CDN.
'use strict';

const state = { csrf: null, nodes: [], nodeNames: new Map(), reachable: new Map(), deployments: [], lastEvent: 0, series: { tps: [], ttft: [], tpot: [] } };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM, which the page's CSP allows (style attributes it does not)
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (method !== 'GET') headers['X-Tessera-CSRF'] = state.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (response.status === 401) { location.href = '/dashboard/login'; throw new Error('signed out'); }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((data && (data.error || data.message)) || `${method} ${path}: ${response.status}`);
  return data;
}

function toast(message, bad) {
  const t = $('toast');
  t.textContent = message;
  t.className = bad ? 'toast bad' : 'toast';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 3000);
}

const gib = (bytes) => bytes < 1073741824 ? (bytes / 1048576).toFixed(0) + ' MiB' : (bytes / 1073741824).toFixed(bytes >= 10 * 1073741824 ? 0 : 1) + ' GiB';
const badge = (text) => el('span', { class: 'badge ' + String(text).toLowerCase(), text });
function bar(used, total, label) {
  const fraction = total > 0 ? Math.min(1, Math.max(0, used / total)) : 0;
  return el('span', { title: label }, el('span', { class: fraction > 0.9 ? 'bar hot' : 'bar' }, el('span', { style: `width:${(fraction * 100).toFixed(1)}%` })), ' ', label);
}
function ago(at) {
  if (!at) return 'never';
  const s = Math.max(0, (Date.now() - new Date(at).getTime()) / 1000);
  return s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

async function refreshNodes() {
  const page = await api('GET', '/api/nodes?limit=1000');
  state.nodes = page;
  state.nodeNames = new Map(page.map((n) => [n.id, n.name]));
  const counts = {};
  for (const n of page) counts[n.state] = (counts[n.state] || 0) + 1;
  $('node-count').textContent = `(${page.length})`;
  $('summary').textContent = Object.entries(counts).map(([s, c]) => `${c} ${s}`).join(' · ');
  const body = $('nodes').tBodies[0];
  body.replaceChildren(...page.map((n) => {
    const devices = el('td', {}, el('span', { class: 'device', text: `CPU ${n.cpu.logicalCores} cores` }),
      ...n.gpus.map((g) => el('span', { class: 'device' }, `${g.device}: ${g.name} `, bar(g.memoryTotalBytes - g.memoryFreeBytes, g.memoryTotalBytes, `${gib(g.memoryTotalBytes - g.memoryFreeBytes)} / ${gib(g.memoryTotalBytes)}, ${g.utilizationPercent.toFixed(0)} %`))));
    const speed = [n.cpu.speedGBps > 0 ? `CPU ${n.cpu.speedGBps.toFixed(1)} GB/s` : null, ...n.gpus.filter((g) => g.speedGBps > 0).map((g) => `${g.device} ${g.speedGBps.toFixed(0)} GB/s`)].filter(Boolean).join(', ') || 'not measured';
    const drain = el('button', { class: 'secondary', text: n.drained ? 'Drained' : 'Drain', disabled: n.drained || n.state === 'left',
      onclick: async () => { try { await api('POST', `/api/nodes/${encodeURIComponent(n.id)}/drain`); toast(`${n.name} is draining`); refreshNodes(); } catch (e) { toast(e.message, true); } } });
    return el('tr', { 'data-node': n.name, 'data-state': n.state },
      el('td', { title: n.id, text: n.name }),
      el('td', {}, badge(n.state), n.connected ? '' : el('span', { class: 'muted', text: ' (not connected)' })),
      devices,
      el('td', {}, bar(n.ramTotalBytes - n.ramFreeBytes, n.ramTotalBytes, `${gib(n.ramTotalBytes - n.ramFreeBytes)} / ${gib(n.ramTotalBytes)}`)),
      el('td', {}, bar(n.cpu.busyPercent, 100, `${n.cpu.busyPercent.toFixed(0)} %`)),
      el('td', { text: speed }),
      el('td', {}, n.address, state.reachable.has(n.id) ? (state.reachable.get(n.id) ? '' : el('span', { class: 'muted', title: 'peers cannot dial it: the coordinator relays its stages', text: ' (relayed)' })) : ''),
      el('td', { 'data-heartbeat': n.lastHeartbeat || '', text: ago(n.lastHeartbeat) }),
      el('td', {}, drain));
  }));
}

async function refreshDeployments() {
  const list = await api('GET', '/api/deployments');
  state.deployments = list;
  $('deployments').replaceChildren(...(list.length === 0 ? [el('p', { class: 'muted', text: 'No deployment yet: deploy a model below.' })] : list.map((d) => {
    const replicas = new Map();
    for (const s of d.stages) { if (!replicas.has(s.replica)) replicas.set(s.replica, []); replicas.get(s.replica).push(s); }
    const map = el('div', { class: 'stage-map' }, ...[...replicas.entries()].sort((a, b) => a[0] - b[0]).map(([r, stages]) =>
      el('div', { class: 'replica' }, el('span', { class: 'label', text: `replica ${r}` }),
        ...stages.sort((a, b) => a.index - b.index).map((s) => el('div', {
          class: 'stage ' + String(s.state).toLowerCase(), 'data-layers': `${s.firstLayer}-${s.lastLayer}`,
          style: `flex:${Math.max(1, s.lastLayer - s.firstLayer)}`,
          title: `${s.state}${s.error ? ': ' + s.error : ''}; weights ${gib(s.weightBytes)}, KV ${gib(s.kvBytes)}; predicted ${s.predictedTokensPerSecond.toFixed(1)} tokens/s`,
        }, el('span', { class: 'layers', text: s.lastLayer - s.firstLayer === 1 ? `layer ${s.firstLayer}` : `layers ${s.firstLayer}–${s.lastLayer - 1}` }), `${s.nodeName} · ${s.device} · ${s.state}`,
          s.bytesTotal > 0 && s.bytesDone < s.bytesTotal ? ` ${(100 * s.bytesDone / s.bytesTotal).toFixed(0)} %` : '')))));
    const undeploy = el('button', { class: 'danger', text: 'Undeploy', onclick: async () => {
      if (!confirm(`Undeploy ${d.name}?`)) return;
      try { await api('DELETE', `/api/deployments/${encodeURIComponent(d.name)}`); toast(`${d.name} undeployed`); refreshDeployments(); } catch (e) { toast(e.message, true); }
    } });
    return el('div', { class: 'deployment', 'data-deployment': d.name },
      el('h3', {}, d.name, badge(d.state), el('span', { class: 'muted', text: `${d.model} · ${gib(d.modelBytes)} · predicted ${d.predictedTokensPerSecond.toFixed(1)} tokens/s` }),
        el('span', { class: 'serving', 'data-serving': d.name, text: servingText(d.name) }), el('span', { class: 'spacer' }), undeploy),
      d.error ? el('p', { class: 'error', text: d.error }) : null, map);
  })));
  const select = $('chat-model');
  const chosen = select.value;
  select.replaceChildren(...list.map((d) => el('option', { value: d.name, text: `${d.name} (${d.state})` })));
  if (chosen) select.value = chosen;
}

// A deployment's own serving figures, from the last /api/serving/live.
function servingText(name) {
  const m = state.serving && state.serving.models && state.serving.models[name];
  return m ? `serving ${m.tokensPerSecond.toFixed(1)} tokens/s, first token ${m.timeToFirstTokenMs.toFixed(0)} ms · ${m.activeSessions} sessions, ${m.queuedSessions} queued · ${m.requests} requests` : '';
}

async function refreshLinks() {
  const links = await api('GET', '/api/links?limit=1000');
  // As `tessera nodes`: a node is reachable when the newest measurement of a link to it succeeded.
  const newest = new Map();
  for (const l of links) { const seen = newest.get(l.toNodeId); if (!seen || seen.measuredAt < l.measuredAt) newest.set(l.toNodeId, l); }
  state.reachable = new Map([...newest.entries()].map(([id, l]) => [id, !l.error]));
  const nodes = [...new Set(links.flatMap((l) => [l.fromNodeId, l.toNodeId]))].sort();
  if (nodes.length === 0) { $('links').replaceChildren(el('p', { class: 'muted', text: 'No link measured yet.' })); return; }
  const byPair = new Map(links.map((l) => [`${l.fromNodeId}|${l.toNodeId}`, l]));
  const name = (id) => state.nodeNames.get(id) || id;
  const worst = Math.max(1, ...links.map((l) => l.rttMs + l.jitterP99Ms));
  const cell = (from, to) => {
    const l = byPair.get(`${from}|${to}`) || byPair.get(`${to}|${from}`);
    if (from === to) return el('td', { class: 'cell muted', text: '—' });
    if (!l) return el('td', { class: 'cell muted', text: '·' });
    if (l.error) return el('td', { class: 'cell', style: 'background:#fecaca', title: l.error, text: '✕' });
    const heat = Math.min(1, (l.rttMs + l.jitterP99Ms) / worst);
    return el('td', { class: 'cell', style: `background:hsl(${(1 - heat) * 120},70%,80%)`,
      title: `${name(l.fromNodeId)} → ${name(l.toNodeId)}: RTT ${l.rttMs.toFixed(2)} ms, jitter p99 ${l.jitterP99Ms.toFixed(2)} ms, ${l.bandwidthMbps.toFixed(0)} Mbit/s, loss ${(100 * l.loss).toFixed(1)} %`,
      text: l.rttMs.toFixed(1) });
  };
  $('links').replaceChildren(el('table', { class: 'heatmap' },
    el('thead', {}, el('tr', {}, el('th', { text: 'RTT ms' }), ...nodes.map((n) => el('th', { text: name(n) })))),
    el('tbody', {}, ...nodes.map((from) => el('tr', {}, el('th', { text: name(from) }), ...nodes.map((to) => cell(from, to)))))),
    el('p', { class: 'hint', text: 'Median round trip; colour adds the jitter (p99). Hover for details.' }));
}

async function refreshTokens() {
  const tokens = await api('GET', '/api/tokens');
  $('tokens').tBodies[0].replaceChildren(...tokens.filter((t) => t.status === 'valid').map((t) => el('tr', {},
    el('td', { text: t.id }), el('td', { text: t.description }), el('td', {}, badge(t.status)),
    el('td', { text: `${t.uses} / ${t.maxUses ?? 1}` }), el('td', { text: new Date(t.expiresAt).toLocaleString() }),
    el('td', {}, el('button', { class: 'secondary', text: 'Revoke', onclick: async () => {
      try { await api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`); toast(`Token ${t.id} revoked`); refreshTokens(); } catch (e) { toast(e.message, true); }
    } })))));
}

function addEvent(e, atTop) {
  const li = el('li', { 'data-kind': e.kind }, el('time', { datetime: e.at, text: new Date(e.at).toLocaleTimeString() }), el('span', { class: 'kind', text: e.kind }),
    e.nodeId ? el('span', { class: 'muted', text: `${state.nodeNames.get(e.nodeId) || e.nodeId} ` }) : null, e.message);
  const list = $('events');
  if (atTop) list.prepend(li); else list.append(li);
  while (list.children.length > 200) list.lastChild.remove();
}

async function startEvents() {
  const recent = await api('GET', '/api/events?order=desc&limit=50');
  for (const e of recent) addEvent(e, false);
  state.lastEvent = recent.length > 0 ? recent[0].id : 0;
  const source = new EventSource(`/api/events/stream?after=${state.lastEvent}`);
  source.addEventListener('open', () => $('live').classList.add('on'));
  source.addEventListener('error', () => $('live').classList.remove('on'));
  let pending = null;
  source.addEventListener('pool', (message) => {
    const e = JSON.parse(message.data);
    state.lastEvent = e.id;
    addEvent(e, true);
    // An event usually means a node or a deployment changed: read them again, once for a burst of events.
    clearTimeout(pending);
    pending = setTimeout(() => { refreshNodes().catch(() => {}); refreshDeployments().catch(() => {}); }, 250);
  });
}

function plot(id, values, nowId, unit) {
  const svg = $(id);
  const max = Math.max(1e-9, ...values);
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 300},${90 - (v / max) * 85}`).join(' ');
  svg.replaceChildren(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'));
  svg.firstChild.setAttribute('points', points);
  const last = values.length ? values[values.length - 1] : 0;
  $(nowId).textContent = values.length ? `${last.toFixed(last < 10 ? 1 : 0)}${unit}` : '';
}

async function refreshServing() {
  let live;
  try { live = await api('GET', '/api/serving/live'); } catch { $('serving-note').textContent = 'Serving figures are not available from this coordinator.'; return; }
  state.serving = live;
  for (const span of document.querySelectorAll('[data-serving]')) span.textContent = servingText(span.getAttribute('data-serving'));
  for (const [key, value] of [['tps', live.tokensPerSecond], ['ttft', live.timeToFirstTokenMs], ['tpot', live.tokenLatencyMs]]) {
    state.series[key].push(value || 0);
    if (state.series[key].length > 150) state.series[key].shift();
  }
  plot('chart-tps', state.series.tps, 'now-tps', '');
  plot('chart-ttft', state.series.ttft, 'now-ttft', ' ms');
  plot('chart-tpot', state.series.tpot, 'now-tpot', ' ms');
  $('serving-note').textContent = `${live.requests} requests, ${live.tokens} tokens since the coordinator started; the last ${live.windowSeconds} s shown every 2 s.`;
}

async function chat(event) {
  event.preventDefault();
  const model = $('chat-model').value;
  const text = $('chat-input').value.trim();
  if (!model || !text) return;
  $('chat-send').disabled = true;
  const log = $('chat-log');
  log.append(el('div', { class: 'turn user', text: `you: ${text}` }));
  const reply = el('div', { class: 'turn assistant', 'data-reply': 'streaming' });
  log.append(reply);
  $('chat-input').value = '';
  try {
    const response = await fetch('/api/dashboard/chat', { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Tessera-CSRF': state.csrf },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: text }], max_tokens: 256 }) });
    if (!response.ok) { const data = await response.json().catch(() => ({})); throw new Error(data.error || `chat: ${response.status}`); }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data || data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error);
        reply.textContent += chunk.text || '';
        log.scrollTop = log.scrollHeight;
      }
    }
    reply.setAttribute('data-reply', 'done');
  } catch (e) {
    reply.setAttribute('data-reply', 'failed');
    reply.textContent += ` [${e.message}]`;
  } finally {
    $('chat-send').disabled = false;
  }
}

async function main() {
  const session = await api('GET', '/api/session');
  state.csrf = session.csrf;
  $('pool-id').textContent = session.poolId;
  $('sign-out').addEventListener('click', async () => { await fetch('/dashboard/logout', { method: 'POST', headers: { 'X-Tessera-CSRF': state.csrf } }); location.href = '/dashboard/login'; });
  $('token-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api('POST', '/api/tokens', { ttl: $('token-ttl').value, uses: parseInt($('token-uses').value, 10) || 1, description: $('token-description').value });
      $('join-command').textContent = created.joinCommand;
      $('token-created').hidden = false;
      refreshTokens();
    } catch (e) { toast(e.message, true); }
  });
  $('copy-join').addEventListener('click', async () => {
    const text = $('join-command').textContent;
    try { await navigator.clipboard.writeText(text); toast('Join command copied'); }
    catch { const range = document.createRange(); range.selectNodeContents($('join-command')); getSelection().removeAllRanges(); getSelection().addRange(range); toast('Selected: copy it with Ctrl+C'); }
  });
  $('deploy-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const replicas = $('deploy-replicas').value.trim();
    const body = { model: $('deploy-model').value.trim(), name: $('deploy-name').value.trim() || null };
    if (replicas === 'auto') body.autoReplicas = true; else if (replicas) body.replicas = parseInt(replicas, 10);
    try { const d = await api('POST', '/api/deployments', body); toast(`Deploying ${d.name}`); refreshDeployments(); } catch (e) { toast(e.message, true); }
  });
  $('chat-form').addEventListener('submit', chat);
  await Promise.all([refreshNodes(), refreshDeployments(), refreshTokens()]);
  await Promise.all([refreshLinks().catch(() => {}), startEvents()]);
  setInterval(() => { refreshNodes().catch(() => {}); }, 3000);
  setInterval(() => { refreshDeployments().catch(() => {}); }, 3000);
  setInterval(() => { refreshLinks().catch(() => {}); }, 15000);
  refreshServing();
  setInterval(refreshServing, 2000);
}

main().catch((e) => toast(e.message, true));
