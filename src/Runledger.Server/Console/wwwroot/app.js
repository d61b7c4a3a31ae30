// Runledger console: a hash-routed single page over /ui/api. Every asset is served by the server itself.
import { runsPage, executionsPage, executionPage } from './runs.js';
import { deletionsPage, auditPage, holdsPage } from './lifecycle.js';
import { projectsPage, projectPage, datasetPage, experimentPage } from './llm.js';

export const session = { signedIn: false, csrf: '', can: {} };

/** Builds an element: h('a', { href: '#/' }, 'text', child). Text is always set as text, never parsed as HTML. */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k in el && !(el instanceof SVGElement) && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code;
  }
}

/** Thrown by a read whose answer came after the user went to another page: the page that asked is gone. */
export class StaleNavigation extends Error {
  constructor() { super('The page changed while this was loading.'); }
}

// Counts navigations, so a page still loading when the user moves on cannot draw over the next one.
let navigations = 0;

/**
 * Calls the console API; state-changing calls carry the antiforgery token. A 401 sends the user to sign in.
 * A read answered after a navigation throws StaleNavigation (unless keepAcrossNavigation: a dialog's own polling).
 */
export async function api(method, path, body, { keepAcrossNavigation = false } = {}) {
  const asked = navigations;
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-TOKEN'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch('/ui/api' + path, {
    method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { detail: text }; }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/session')) {
      session.signedIn = false;
      location.hash = '#/signin';
    }
    throw new ApiError(response.status, json);
  }
  if (method === 'GET' && !keepAcrossNavigation && asked !== navigations) throw new StaleNavigation();
  return json;
}

export function errorBox(error) {
  return h('div', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error));
}

export function empty(text) {
  return h('div', { class: 'empty' }, text);
}

export function toast(text) {
  const item = h('div', {}, text);
  document.getElementById('toast').append(item);
  setTimeout(() => item.remove(), 4000);
}

export function badge(status) {
  return h('span', { class: `badge s-${status}` }, status);
}

export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function num(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '–');
}

export function table(headers, rows, options = {}) {
  return h('div', { class: 'table-wrap' }, h('table', { 'aria-label': options.label },
    h('thead', {}, h('tr', {}, headers.map(x => h('th', { scope: 'col', class: x.num ? 'num' : undefined }, x.label ?? x)))),
    h('tbody', {}, rows)));
}

export function render(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes.flat());
}

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query || '') };
}

function navigation() {
  const { parts } = parseHash();
  const items = [];
  if (session.can.runs) items.push(['runs', 'Runs']);
  if (session.can.llm) items.push(['llm', 'LLM Obs']);
  if (session.can.admin) items.push(['deletions', 'Deletions'], ['audit', 'Audit'], ['holds', 'Holds']);
  document.getElementById('nav').replaceChildren(...(session.signedIn ? items : []).map(([key, label]) =>
    h('a', { href: `#/${key}`, 'aria-current': parts[0] === key ? 'page' : undefined }, label)));
  const who = document.getElementById('who');
  who.replaceChildren(...(session.signedIn
    ? [h('span', { 'data-testid': 'who' }, `${session.name} · ${session.scopes.join(' ') || 'no scopes'}`),
       h('button', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out')]
    : []));
}

async function signOut() {
  try { await api('DELETE', '/session'); } catch { /* an ended session is signed out already */ }
  await loadSession();
  location.hash = '#/signin';
}

async function loadSession() {
  Object.assign(session, await api('GET', '/session'));
}

function signInPage() {
  const input = h('input', { id: 'credential', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'credential-help' });
  const status = h('div', { 'aria-live': 'assertive' });
  const form = h('form', {
    class: 'panel signin',
    onsubmit: async event => {
      event.preventDefault();
      status.replaceChildren();
      try {
        Object.assign(session, await api('POST', '/session', { credential: input.value }));
        input.value = '';
        location.hash = home();
      } catch (error) {
        status.replaceChildren(errorBox(error));
        input.focus();
      }
    },
  },
  h('h1', {}, 'Sign in to Runledger'),
  h('label', { for: 'credential' }, 'Credential'),
  input,
  h('p', { id: 'credential-help', class: 'muted' },
    'Paste an admin token, an AI API bearer token, or a Datadog application key. The console offers only what that credential may do.'),
  status,
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  render(form);
  input.focus();
}

function home() {
  return session.can.runs ? '#/runs' : session.can.llm ? '#/llm' : '#/none';
}

const routes = {
  none: () => render(h('h1', {}, 'Nothing to show'), empty('This credential may not use any part of the console. Sign in with another one.')),
  runs: p => p.length === 1 ? runsPage() : p.length === 2 ? executionsPage(p[1]) : executionPage(p[1], p[2]),
  llm: p => p.length === 1 ? projectsPage() : p.length === 2 ? projectPage(p[1])
    : p[2] === 'datasets' ? datasetPage(p[1], p[3]) : experimentPage(p[1], p[3]),
  deletions: () => deletionsPage(),
  audit: () => auditPage(),
  holds: () => holdsPage(),
};

async function route() {
  navigations++;
  const { parts } = parseHash();
  if (!session.signedIn) {
    navigation();
    if (parts[0] !== 'signin') location.hash = '#/signin';
    else signInPage();
    return;
  }
  if (parts[0] === 'signin' || parts.length === 0) {
    location.hash = home();
    return;
  }
  navigation();
  const page = routes[parts[0]];
  if (!page) {
    render(h('h1', {}, 'Not found'), empty(`There is no page at ${location.hash}.`));
    return;
  }
  try {
    await page(parts);
  } catch (error) {
    if (!(error instanceof StaleNavigation)) render(errorBox(error));
  }
}

window.addEventListener('hashchange', route);
loadSession().then(route, error => render(errorBox(error)));
