// jobd's status page: one script, no framework, no build step.
//
// Design. The page is a client of the JSON API (v1/..., the routes of
// daemon/gateway.c) and of nothing else; every fact it shows comes from one
// call and is never guessed (the page does not decide which jobs may be
// cancelled or retried: it asks, and shows the daemon's answer). Messages
// are protobuf's canonical JSON: 64-bit integers arrive as strings and stay
// strings (ids) or become BigInt (progress) so nothing is rounded.
//
// Navigation lives in the URL's hash (#/jobs?state=failed, #/job/42), so
// the back button, reloads and links work; each view is a function that
// renders into <main> and may poll. A route change bumps `generation`: a
// poll or an answer of an older view finds it changed and drops its work,
// so no timer of a view outlives it.
//
// Token: a call answered 401 opens one form (however many calls were
// refused at once); the token goes to sessionStorage and every call sends
// `Authorization: Bearer TOKEN` from then on; the refused calls are sent
// again with it.
//
// Everything the daemon returns is text put in the DOM with textContent
// (through el()), never parsed as HTML: job params, errors and results are
// anyone's input.
'use strict';

const TOKEN_KEY = 'jobd.token';
const POLL_JOB_MS = 500;     // a job's detail while it has not ended
const POLL_VIEW_MS = 2000;   // overview, first page of a list
const PAGE = 50;             // jobs per page

const STATES = ['queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled'];
const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

// "JOB_STATE_RUNNING" -> "running"
function stateName(s) {
  return String(s || '').replace(/^JOB_STATE_/, '').toLowerCase();
}
function stateEnum(s) {
  return 'JOB_STATE_' + s.toUpperCase();
}

// ---- DOM helpers ---------------------------------------------------------

// el('a', {href: '#/'}, 'text', child...): attributes starting with "on" are
// listeners; strings become text nodes; null/false children are skipped.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}
function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $ = (sel) => document.querySelector(sel);

function stateBadge(s) {
  const n = stateName(s);
  return el('span', { class: 'state s-' + n }, n || '?');
}
function jobLink(id) {
  return el('a', { href: '#/job/' + id }, '#' + id);
}

// ---- formatting ----------------------------------------------------------

function fmtTime(ms) {
  const n = Number(ms);
  if (!n) return '—';
  const d = new Date(n);
  const pad = (x, w = 2) => String(x).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
function fmtDuration(ms) {
  let s = Math.floor(Math.abs(Number(ms)) / 1000);
  if (Number(ms) < 1000 && Number(ms) >= 0) return `${Number(ms)} ms`;
  const parts = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= n || (u === 's' && parts.length === 0)) {
      parts.push(Math.floor(s / n) + ' ' + u);
      s %= n;
    }
  }
  return parts.slice(0, 2).join(' ');
}
function fmtAgo(ms) {
  const n = Number(ms);
  if (!n) return '';
  const d = Date.now() - n;
  return d >= 0 ? `(${fmtDuration(d)} ago)` : `(in ${fmtDuration(-d)})`;
}
function fmtBytes(n) {
  n = Number(n);
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}
function paramsText(params) {
  const keys = Object.keys(params || {}).sort();
  return keys.map((k) => `${k}=${params[k]}`).join(' ');
}

// ---- the API -------------------------------------------------------------

class ApiError extends Error {
  constructor(http, status, message) {
    super(message);
    this.http = http;        // HTTP status, 0 when jobd could not be reached
    this.status = status;    // the gRPC code's name: "NOT_FOUND"
  }
  toString() {
    return `${this.status}: ${this.message}`;
  }
}

let tokenWait = null;        // the open token form's promise, shared

// The token form, once for every call refused together; resolves when a
// token is entered. `why` is the daemon's message.
function askToken(why, refused) {
  if (tokenWait) return tokenWait;
  tokenWait = new Promise((resolve) => {
    const dlg = $('#token-dialog');
    const form = $('#token-form');
    $('#token-why').textContent = refused
      ? `The token given was refused (${why}). Enter it again.`
      : `Every API call needs it (${why}).`;
    $('#token-input').value = '';
    const done = (ev) => {
      ev.preventDefault();
      const t = $('#token-input').value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      form.removeEventListener('submit', done);
      dlg.close();
      tokenWait = null;
      resolve();
    };
    form.addEventListener('submit', done);
    // Escape would close the dialog with the calls still waiting: keep it.
    dlg.addEventListener('cancel', (ev) => ev.preventDefault(), { once: true });
    dlg.showModal();
    $('#token-input').focus();
  });
  return tokenWait;
}

// One call: method, path under v1/ (relative, so a prefix in front of jobd
// works), an optional body object. Resolves with the reply's JSON; rejects
// with an ApiError carrying the daemon's {code, status, message}.
async function api(method, path, body) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch('v1/' + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'UNAVAILABLE', `cannot reach jobd: ${e.message}`);
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : {};
    } catch (e) {
      json = null;
    }
    if (res.status === 401) {
      const why = (json && json.message) || 'unauthenticated';
      const now = sessionStorage.getItem(TOKEN_KEY);
      if (now !== null && now !== token) continue; // a new token came meanwhile
      if (now !== null) sessionStorage.removeItem(TOKEN_KEY);
      await askToken(why, Boolean(token));
      continue;
    }
    if (res.ok && json) return json;
    if (json && typeof json.message === 'string') {
      throw new ApiError(res.status, json.status || `code ${json.code}`, json.message);
    }
    throw new ApiError(res.status, `HTTP ${res.status}`,
      res.ok ? 'the reply is not JSON' : (text.slice(0, 200) || res.statusText));
  }
}

// ---- views ---------------------------------------------------------------

let generation = 0;          // bumped by every route change
let timer = null;

function current(gen) {
  return gen === generation;
}
// Runs fn now and then every ms while the view is the current one.
function poll(gen, ms, fn) {
  const tick = async () => {
    if (!current(gen)) return;
    if (document.hidden && ms) {
      // A tab in the background asks nothing; it catches up when shown.
      timer = setTimeout(tick, ms);
      return;
    }
    try {
      await fn();
      showBanner(null);
    } catch (e) {
      if (current(gen)) showBanner(e);
    }
    if (current(gen) && ms) timer = setTimeout(tick, ms);
  };
  return tick();
}
function showBanner(err) {
  const b = $('#banner');
  if (!err) {
    b.hidden = true;
    b.textContent = '';
    return;
  }
  b.hidden = false;
  b.textContent = String(err);
}
// An action's answer next to its button: an error, or a note.
function actionMessage(box, err, note) {
  box.textContent = '';
  box.className = err ? 'action-msg error' : 'action-msg';
  if (err) box.append(el('strong', {}, err.status), ': ', err.message);
  else if (note) box.append(note);
}
function view(title, ...children) {
  const v = $('#view');
  v.textContent = '';
  document.title = `${title} · jobd`;
  append(v, [el('h1', {}, title), ...children]);
  return v;
}

// -- overview

function chart(values, stepMs) {
  const W = 520, H = 160, L = 40, B = 20, T = 10;
  const n = values.length;
  const step = (stepMs || 1000) / 1000;
  const rates = values.map((v) => Number(v) / step);
  const max = Math.max(...rates, 0);
  const top = max > 0 ? niceCeil(max) : 1;
  const svgNS = 'http://www.w3.org/2000/svg';
  const s = (tag, attrs, text) => {
    const e = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const last = rates.length ? rates[rates.length - 1] : 0;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `jobs finished per second over the last ${fmtDuration(n * step * 1000)}: ` +
      `peak ${max.toFixed(2)}, now ${last.toFixed(2)}`,
  });
  const plotW = W - L - 5, plotH = H - B - T;
  for (const f of [0, 0.5, 1]) {
    const y = T + plotH * (1 - f);
    svg.append(s('line', { x1: L, x2: W - 5, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: L - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' },
      fmtRate(top * f)));
  }
  const bw = n ? plotW / n : plotW;
  rates.forEach((r, i) => {
    const h = (r / top) * plotH;
    const bar = s('rect', {
      x: L + i * bw + 0.5, y: T + plotH - h, width: Math.max(bw - 1, 0.5), height: h,
      class: i === n - 1 ? 'bar partial' : 'bar',
    });
    bar.append(s('title', {}, `${fmtDuration((n - 1 - i) * step * 1000)} ago: ` +
      `${values[i]} finished (${r.toFixed(2)}/s)`));
    svg.append(bar);
  });
  svg.append(s('text', { x: L, y: H - 4, class: 'axis' },
    n ? `−${fmtDuration(n * step * 1000)}` : ''));
  svg.append(s('text', { x: W - 5, y: H - 4, 'text-anchor': 'end', class: 'axis' }, 'now'));
  return svg;
}
function niceCeil(x) {
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 5, 10]) if (x <= m * p) return m * p;
  return 10 * p;
}
function fmtRate(r) {
  if (r === 0) return '0';
  return r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
}

function viewOverview(gen) {
  const body = el('div', {});
  view('Overview', body);
  return poll(gen, POLL_VIEW_MS, async () => {
    const st = await api('GET', 'stats');
    if (!current(gen)) return;
    $('#version').textContent = st.version ? `jobd ${st.version}` : '';
    const counts = el('div', { class: 'cards', id: 'state-counts' },
      STATES.map((s) => el('a', {
        class: 'card s-' + s, href: `#/jobs?state=${s}`, 'data-state': s,
      }, el('span', { class: 'count' }, st[s] ?? '0'), el('span', { class: 'label' }, s))));
    const workers = Number(st.workers);
    const busy = Number(st.busyWorkers);
    const recent = st.finishedRecent || [];
    body.replaceChildren(
      counts,
      el('div', { class: 'columns' }, el('section', { class: 'facts' },
        el('h2', {}, 'Daemon'),
        el('dl', {},
          el('dt', {}, 'Workers busy'),
          el('dd', { id: 'workers' }, `${busy} / ${workers}`, ' ',
            el('meter', { min: 0, max: workers || 1, value: busy, 'aria-label': 'workers busy' })),
          el('dt', {}, 'Uptime'), el('dd', { id: 'uptime' }, fmtDuration(st.uptimeMs)),
          el('dt', {}, 'Version'), el('dd', { id: 'daemon-version' }, st.version || '—'),
          el('dt', {}, 'Paused kinds'),
          el('dd', { id: 'paused-kinds' }, (st.pausedKinds || []).length
            ? st.pausedKinds.map((k, i) => [i ? ', ' : '', el('a', { href: '#/kinds' }, k)])
            : 'none'),
          el('dt', {}, 'Submitted since start'), el('dd', {}, st.submitted),
          el('dt', {}, 'Retried since start'), el('dd', {}, st.retried),
          el('dt', {}, 'Queue limit'), el('dd', {}, st.maxQueue === '0' ? 'none' : st.maxQueue),
          el('dt', {}, 'Waiting for their kind'), el('dd', {}, st.waitingKind),
          el('dt', {}, 'Connections'), el('dd', {}, st.connections),
          el('dt', {}, 'Parked calls'), el('dd', {}, st.parkedCalls),
          el('dt', {}, 'Commits since start'), el('dd', {}, st.commits))),
      el('section', {},
        el('h2', {}, 'Jobs finished per second'),
        recent.length
          ? chart(recent, Number(st.finishedRecentStepMs))
          : el('p', { class: 'muted' }, 'This daemon does not report recent completions.'))));
  });
}

// -- job lists (all jobs, and the failed ones: the dead-letter view)

let kindNames = null;        // for the kind filter; fetched once per load

async function kindsForFilter() {
  if (kindNames) return kindNames;
  try {
    const r = await api('GET', 'kinds');
    kindNames = (r.kinds || []).map((k) => k.name).sort();
  } catch (e) {
    return [];
  }
  return kindNames;
}

function viewJobs(gen, q, failedOnly) {
  const base = failedOnly ? '#/failed' : '#/jobs';
  const state = failedOnly ? 'failed' : (q.get('state') || '');
  const kind = q.get('kind') || '';
  const cursor = q.get('cursor') || '';
  const go = (p) => {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(p)) if (v) u.set(k, v);
    const s = u.toString();
    location.hash = base + (s ? '?' + s : '');
  };

  const stateSel = failedOnly ? null : el('select', {
    id: 'filter-state', 'aria-label': 'state',
    onchange: () => go({ state: stateSel.value, kind: kindSel.value }),
  }, el('option', { value: '' }, 'any state'),
  STATES.map((s) => el('option', { value: s, selected: s === state }, s)));
  const kindSel = el('select', {
    id: 'filter-kind', 'aria-label': 'kind',
    onchange: () => go({ state: failedOnly ? '' : stateSel.value, kind: kindSel.value }),
  }, el('option', { value: '' }, 'any kind'),
  kind ? el('option', { value: kind, selected: true }, kind) : null);
  kindsForFilter().then((names) => {
    if (!current(gen)) return;
    for (const n of names) {
      if (n !== kind) kindSel.append(el('option', { value: n }, n));
    }
  });

  const msg = el('div', { class: 'action-msg', role: 'status' });
  const table = el('div', { id: 'jobs-table' });
  const pager = el('nav', { class: 'pager', 'aria-label': 'pages' });
  view(failedOnly ? 'Failed jobs' : 'Jobs',
    failedOnly ? el('p', { class: 'muted' },
      'The dead-letter view: jobs that failed with no attempts left, newest first. ' +
      'Retry puts one back in the queue as a new run.') : null,
    el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      stateSel ? el('label', {}, 'State ', stateSel) : null,
      el('label', {}, 'Kind ', kindSel),
      el('button', { type: 'button', 'aria-label': 'refresh the list', onclick: () => route() },
        'Refresh')),
    msg, table, pager);

  const retry = async (id, btn) => {
    btn.disabled = true;
    try {
      const r = await api('POST', `jobs/${id}:retry`);
      actionMessage(msg, null, `Job #${id} is ${stateName(r.job && r.job.state)} again (run ${Number(r.job.reruns) + 1}).`);
      if (current(gen)) route();
    } catch (e) {
      actionMessage(msg, e);
      btn.disabled = false;
    }
  };

  // Only the first page refreshes by itself: a later page is a snapshot
  // the reader moved to.
  return poll(gen, cursor ? 0 : POLL_VIEW_MS, async () => {
    const u = new URLSearchParams();
    if (state) u.set('state', stateEnum(state));
    if (kind) u.set('kind', kind);
    u.set('limit', String(PAGE));
    if (cursor) u.set('cursor', cursor);
    const r = await api('GET', 'jobs?' + u.toString());
    if (!current(gen)) return;
    const jobs = r.jobs || [];
    const rows = jobs.map((j) => {
      const pd = BigInt(j.progressDone || 0), pt = BigInt(j.progressTotal || 0);
      return el('tr', { 'data-id': j.id },
        el('td', {}, jobLink(j.id)),
        el('td', {}, j.kind),
        el('td', {}, stateBadge(j.state)),
        el('td', { class: 'params' }, paramsText(j.params)),
        el('td', {}, `${j.attempts}/${j.maxAttempts}`),
        el('td', {}, pt > 0n ? `${Number((pd * 100n) / pt)}%` : ''),
        el('td', { class: 'nowrap' }, fmtTime(j.createdAtMs)),
        failedOnly
          ? el('td', { class: 'error' }, j.error)
          : el('td', { class: 'error' }, j.error || j.waiting),
        failedOnly ? el('td', {}, el('button', {
          type: 'button', class: 'retry', 'aria-label': `retry job ${j.id}`,
          onclick: (ev) => retry(j.id, ev.currentTarget),
        }, 'Retry')) : null);
    });
    table.replaceChildren(jobs.length
      ? el('table', {},
        el('thead', {}, el('tr', {},
          ['Job', 'Kind', 'State', 'Params', 'Attempts', 'Progress', 'Created',
            failedOnly ? 'Error' : 'Error / waiting', failedOnly ? '' : null]
            .filter((x) => x !== null).map((t) => el('th', { scope: 'col' }, t)))),
        el('tbody', {}, rows))
      : el('p', { class: 'muted empty' }, cursor ? 'No more jobs.' : 'No jobs.'));
    pager.textContent = '';
    append(pager, [
      cursor ? el('a', { id: 'first-page', href: base + pageHash(state, kind, failedOnly, '') }, '« Newest') : null,
      r.nextCursor && r.nextCursor !== '0'
        ? el('a', { id: 'next-page', href: base + pageHash(state, kind, failedOnly, r.nextCursor) },
          'Older »')
        : null]);
  });
}
function pageHash(state, kind, failedOnly, cursor) {
  const u = new URLSearchParams();
  if (state && !failedOnly) u.set('state', state);
  if (kind) u.set('kind', kind);
  if (cursor) u.set('cursor', cursor);
  const s = u.toString();
  return s ? '?' + s : '';
}

// -- one job

// The result as text when it is printable UTF-8, else its size and a hex
// dump of its first bytes.
function resultPreview(b64) {
  if (!b64) return el('p', { class: 'muted', id: 'job-result' }, 'No result.');
  let bytes;
  try {
    const bin = atob(b64);
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch (e) {
    return el('p', { class: 'error', id: 'job-result' }, 'The result is not valid base64.');
  }
  const LIMIT = 4096;
  let text = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) text = null;
  } catch (e) {
    text = null;
  }
  if (text !== null) {
    const cut = text.length > LIMIT;
    return el('div', { id: 'job-result' },
      el('pre', { class: 'result' }, cut ? text.slice(0, LIMIT) : text),
      el('p', { class: 'muted' }, `${fmtBytes(bytes.length)}${cut ? ', first 4096 characters shown' : ''}.`));
  }
  const head = Array.from(bytes.slice(0, 64), (x) => x.toString(16).padStart(2, '0'));
  const lines = [];
  for (let i = 0; i < head.length; i += 16) lines.push(head.slice(i, i + 16).join(' '));
  return el('div', { id: 'job-result' },
    el('p', {}, `Binary, ${fmtBytes(bytes.length)}${bytes.length > 64 ? '; the first 64 bytes' : ''}:`),
    el('pre', { class: 'result hex' }, lines.join('\n')));
}

function timeline(j) {
  const ev = [];
  const at = (ms, what, extra) => {
    if (Number(ms)) ev.push({ ms: Number(ms), what, extra });
  };
  at(j.createdAtMs, 'created');
  (j.history || []).forEach((r, i) => {
    at(r.startedAtMs, `run ${i + 1} started`);
    at(r.finishedAtMs, `run ${i + 1} ended ${stateName(r.state)}`,
      `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${r.error ? ': ' + r.error : ''}`);
  });
  const run = (j.history || []).length + 1;
  const label = run > 1 ? `run ${run} ` : '';
  if (Number(j.runAtMs)) at(j.runAtMs, `${label}runs at`, stateName(j.state) === 'scheduled' ? 'waiting' : '');
  at(j.startedAtMs, `${label}started`, Number(j.attempts) > 1 ? `attempt ${j.attempts}` : '');
  at(j.finishedAtMs, `${label}finished ${stateName(j.state)}`);
  ev.sort((a, b) => a.ms - b.ms);
  return el('ol', { class: 'timeline', id: 'job-timeline' },
    ev.map((e) => el('li', {},
      el('time', { datetime: new Date(e.ms).toISOString() }, fmtTime(e.ms)), ' ',
      el('strong', {}, e.what), e.extra ? [' — ', e.extra] : null)));
}

function progressBlock(j) {
  const done = BigInt(j.progressDone || 0), total = BigInt(j.progressTotal || 0);
  const st = stateName(j.state);
  if (total > 0n) {
    // <progress> takes doubles: scale big totals down to 0..1000000.
    const pm = Number((done * 1000000n) / total);
    const pct = (pm / 10000).toFixed(1);
    return el('div', { class: 'progress-row' },
      el('progress', { id: 'job-progress', max: 1000000, value: pm, 'aria-label': 'progress' }),
      el('span', { id: 'job-progress-text' }, `${pct}% (${done} / ${total})`));
  }
  if (done > 0n) {
    return el('div', { class: 'progress-row' },
      el('progress', { id: 'job-progress', 'aria-label': 'progress (total unknown)' }),
      el('span', { id: 'job-progress-text' }, `${done} done, total unknown`));
  }
  return el('p', { class: 'muted', id: 'job-progress-text' },
    st === 'running' ? 'No progress reported.' : 'No progress.');
}

function viewJob(gen, id) {
  const msg = el('div', { class: 'action-msg', id: 'action-msg', role: 'status' });
  const body = el('div', { id: 'job-body' });
  const header = el('div', { id: 'job-head' });
  let last = '';
  let lastRest = '';
  let pollGen = 0;            // a Cancel or Retry starts polling afresh

  const act = async (what, btn) => {
    btn.disabled = true;
    actionMessage(msg, null, `${what === 'cancel' ? 'Cancelling' : 'Retrying'}…`);
    try {
      const r = await api('POST', `jobs/${id}:${what}`);
      if (!current(gen)) return;
      actionMessage(msg, null, what === 'cancel'
        ? `Cancel: the job is ${stateName(r.job.state)}${ENDED.has(stateName(r.job.state)) ? '' : ' (asked to stop)'}.`
        : `Retry: the job is ${stateName(r.job.state)} again.`);
      show(r.job);
      startPolling();
    } catch (e) {
      if (current(gen)) actionMessage(msg, e);
    } finally {
      btn.disabled = false;
    }
  };
  const buttons = el('div', { class: 'actions' },
    el('button', {
      type: 'button', id: 'cancel-job', class: 'danger', 'aria-label': `cancel job ${id}`,
      onclick: (ev) => act('cancel', ev.currentTarget),
    }, 'Cancel'),
    el('button', {
      type: 'button', id: 'retry-job', 'aria-label': `retry job ${id}`,
      onclick: (ev) => act('retry', ev.currentTarget),
    }, 'Retry'));
  view(`Job #${id}`, header, buttons, msg, body);

  function show(j) {
    const key = JSON.stringify(j);
    if (key === last) return;
    // Only the progress moved (the common case while it runs): update the
    // bar in place rather than redraw the page.
    const rest = JSON.stringify({ ...j, progressDone: '', progressTotal: '' });
    const bar = document.getElementById('job-progress');
    if (rest === lastRest && bar && bar.hasAttribute('max') && BigInt(j.progressTotal || 0) > 0n) {
      last = key;
      const fresh = progressBlock(j);
      bar.value = fresh.querySelector('progress').value;
      $('#job-progress-text').textContent = fresh.querySelector('span').textContent;
      return;
    }
    last = key;
    lastRest = rest;
    const st = stateName(j.state);
    header.replaceChildren(el('p', {},
      stateBadge(j.state), ' ', el('strong', {}, j.kind),
      j.waiting ? el('span', { class: 'muted' }, ' — waiting: ', j.waiting) : null));
    const params = Object.keys(j.params || {}).sort();
    body.replaceChildren(
      el('section', {},
        el('h2', {}, 'Progress'),
        progressBlock(j)),
      el('div', { class: 'columns' }, el('section', {},
        el('h2', {}, 'Job'),
        el('dl', { class: 'facts' },
          el('dt', {}, 'State'), el('dd', { id: 'job-state' }, st),
          el('dt', {}, 'Attempts'), el('dd', { id: 'job-attempts' }, `${j.attempts} of ${j.maxAttempts}`),
          el('dt', {}, 'Reruns'), el('dd', { id: 'job-reruns' }, String(j.reruns)),
          el('dt', {}, 'Priority'), el('dd', {}, String(j.priority)),
          el('dt', {}, 'Timeout'), el('dd', {}, j.timeoutMs ? fmtDuration(j.timeoutMs) : 'none'),
          el('dt', {}, 'Input'), el('dd', {}, fmtBytes(j.inputSize)),
          j.after && j.after.length
            ? [el('dt', {}, 'Runs after'), el('dd', {}, j.after.map((a, i) => [i ? ', ' : '', jobLink(a)]))]
            : null,
          j.idempotencyKey ? [el('dt', {}, 'Idempotency key'), el('dd', {}, j.idempotencyKey)] : null,
          j.uniqueKey ? [el('dt', {}, 'Unique key'), el('dd', {}, j.uniqueKey)] : null,
          el('dt', {}, 'Error'), el('dd', { id: 'job-error', class: j.error ? 'error' : 'muted' }, j.error || 'none'))),
      el('section', {},
        el('h2', {}, 'Parameters'),
        params.length
          ? el('table', { class: 'kv', id: 'job-params' }, el('tbody', {},
            params.map((k) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, j.params[k])))))
          : el('p', { class: 'muted' }, 'None.'))),
      el('section', {},
        el('h2', {}, 'Result'),
        resultPreview(j.result)),
      el('section', {},
        el('h2', {}, 'Timeline'),
        timeline(j)));
  }

  function startPolling() {
    const my = ++pollGen;
    clearTimeout(timer);
    const tick = async () => {
      if (!current(gen) || my !== pollGen) return;
      if (document.hidden) {
        timer = setTimeout(tick, POLL_JOB_MS);
        return;
      }
      let j = null;
      try {
        const r = await api('GET', `jobs/${id}`);
        if (!current(gen) || my !== pollGen) return;
        if (!r.jobs || !r.jobs.length) {
          showBanner(new ApiError(404, 'NOT_FOUND', `job ${id} not found`));
          return;
        }
        j = r.jobs[0];
        showBanner(null);
        show(j);
      } catch (e) {
        if (current(gen)) showBanner(e);
      }
      // Polls while the job may still change on its own; an ended job is
      // changed only by a Retry from here (which polls again).
      if (current(gen) && my === pollGen && (!j || !ENDED.has(stateName(j.state)))) {
        timer = setTimeout(tick, POLL_JOB_MS);
      }
    };
    return tick();
  }
  return startPolling();
}

// -- kinds

function viewKinds(gen) {
  const msg = el('div', { class: 'action-msg', role: 'status' });
  const table = el('div', { id: 'kinds-table' });
  view('Kinds', msg, table);
  const toggle = async (k, btn) => {
    btn.disabled = true;
    const what = k.paused ? 'resume' : 'pause';
    try {
      const r = await api('POST', `kinds/${encodeURIComponent(k.name)}:${what}`);
      actionMessage(msg, null, `Kind ${k.name}: ${what === 'pause' ? 'paused' : 'resumed'}` +
        `${r.changed ? '' : ' (it was already)'}.`);
      kindNames = null;
      if (current(gen)) route();
    } catch (e) {
      actionMessage(msg, e);
      btn.disabled = false;
    }
  };
  return poll(gen, 0, async () => {
    const r = await api('GET', 'kinds');
    if (!current(gen)) return;
    const kinds = (r.kinds || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    table.replaceChildren(el('p', { class: 'muted' },
      'Parameters marked * are required. A paused kind keeps its queued jobs waiting; ' +
      'the jobs running finish.'), el('table', {},
      el('thead', {}, el('tr', {}, ['Kind', 'Origin', 'Description', 'Parameters', 'Concurrency', 'State', '']
        .map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, kinds.map((k) => el('tr', { 'data-kind': k.name },
        el('td', {}, el('a', { href: '#/jobs?kind=' + encodeURIComponent(k.name) }, k.name)),
        el('td', { title: k.source }, k.origin),
        el('td', {}, k.description),
        el('td', { class: 'params' }, (k.params || []).map((p, i) => [i ? ', ' : '',
          el('span', { title: p.description || '' }, p.name + (p.required ? '*' : ''))])),
        el('td', {}, k.concurrency ? String(k.concurrency) : '—'),
        el('td', {}, k.paused ? el('span', { class: 'state s-paused' }, 'paused') : 'active'),
        el('td', {}, el('button', {
          type: 'button', class: k.paused ? 'resume' : 'pause',
          'aria-label': `${k.paused ? 'resume' : 'pause'} kind ${k.name}`,
          onclick: (ev) => toggle(k, ev.currentTarget),
        }, k.paused ? 'Resume' : 'Pause')))))));
  });
}

// -- schedules

function viewSchedules(gen) {
  const table = el('div', { id: 'schedules-table' });
  view('Schedules', table);
  return poll(gen, 0, async () => {
    const r = await api('GET', 'schedules');
    if (!current(gen)) return;
    const list = r.schedules || [];
    table.replaceChildren(list.length
      ? el('table', {},
        el('thead', {}, el('tr', {}, ['Schedule', 'Kind', 'When', 'Params', 'Next', 'Last', 'Last job', 'Catch-up']
          .map((t) => el('th', { scope: 'col' }, t)))),
        el('tbody', {}, list.map((s) => el('tr', { 'data-schedule': s.name },
          el('td', { title: s.source }, s.name),
          el('td', {}, s.kind),
          el('td', {}, s.spec, s.timeZone ? el('span', { class: 'muted' }, ` (${s.timeZone})`) : null),
          el('td', { class: 'params' }, paramsText(s.params)),
          el('td', {}, fmtTime(s.nextAtMs), ' ', el('span', { class: 'muted' }, fmtAgo(s.nextAtMs))),
          el('td', {}, fmtTime(s.lastAtMs)),
          el('td', {}, s.lastJobId && s.lastJobId !== '0' ? jobLink(s.lastJobId) : '—'),
          el('td', {}, s.catchUp)))))
      : el('p', { class: 'muted empty' },
        'No schedules (*.schedule files in the kinds directory declare them).'));
  });
}

// ---- the router ----------------------------------------------------------

function route() {
  generation++;
  clearTimeout(timer);
  showBanner(null);
  const gen = generation;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const q = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  let name = parts[0] || 'overview';
  let run;
  if (name === 'overview') run = () => viewOverview(gen);
  else if (name === 'jobs') run = () => viewJobs(gen, q, false);
  else if (name === 'failed') run = () => viewJobs(gen, q, true);
  else if (name === 'job' && /^[0-9]+$/.test(parts[1] || '')) run = () => viewJob(gen, parts[1]);
  else if (name === 'kinds') run = () => viewKinds(gen);
  else if (name === 'schedules') run = () => viewSchedules(gen);
  else {
    name = '';
    run = () => view('Not found', el('p', {}, 'No such view. ', el('a', { href: '#/' }, 'Overview')));
  }
  for (const a of document.querySelectorAll('nav a')) {
    const on = a.dataset.view === name || (name === 'job' && a.dataset.view === 'jobs');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  run();
}

window.addEventListener('hashchange', route);
route();
