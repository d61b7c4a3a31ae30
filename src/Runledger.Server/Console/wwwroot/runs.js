// Runs: resource groups → executions (filters by status, scenario and configuration; keyset paging)
// → one execution: status timeline, parameters, live log tail, charts (compare, hover, zoom), tags.
import { h, api, render, table, badge, when, duration, empty, errorBox, session, parseHash, toast, num, StaleNavigation } from './app.js';
import { lineChart } from './chart.js';
import { deleteFlow } from './lifecycle.js';

const STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'DEAD', 'STOPPING', 'STOPPED', 'UNKNOWN'];
let timer = null;
// How often an open page of a running execution reads its log tail and status again.
const LIVE_POLL_MS = 1000;
window.addEventListener('hashchange', () => { clearTimeout(timer); timer = null; });

export async function runsPage() {
  const groups = (await api('GET', '/resource-groups/')).resources;
  render(
    h('h1', {}, 'Resource groups'),
    groups.length === 0 ? empty('No resource groups yet. Create one with POST /v2/admin/resourceGroups or `runledger resource-groups create`.')
      : table(['Resource group', 'Status', 'Created', ''], groups.map(g => h('tr', {},
        h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(g.id)}` }, g.id)),
        h('td', {}, badge(g.status)),
        h('td', {}, when(g.createdAt)),
        h('td', {}, session.can.admin && g.id !== 'default'
          ? h('button', { type: 'button', class: 'danger', onclick: () => deleteFlow({ kind: 'resource_group', id: g.id, scope: g.id, label: `resource group ${g.id}`, after: () => runsPage() }) }, 'Delete…')
          : ''))), { label: 'Resource groups' }));
}

const FILTERS = ['status', 'scenarioId', 'configurationId'];

export async function executionsPage(rg) {
  const { query } = parseHash();
  const chosen = Object.fromEntries(FILTERS.map(f => [f, query.get(f) || '']));
  const cursor = query.get('cursor') || '';
  const back = query.get('back') || '';
  const params = new URLSearchParams({ limit: '50' });
  for (const f of FILTERS) if (chosen[f]) params.set(f, chosen[f]);
  if (cursor) params.set('cursor', cursor);
  const base = `/resource-groups/${encodeURIComponent(rg)}`;
  const [page, options] = await Promise.all([api('GET', `${base}/executions?${params}`), api('GET', `${base}/execution-filters`)]);
  const link = (next, filters = chosen) => {
    const q = new URLSearchParams();
    for (const f of FILTERS) if (filters[f]) q.set(f, filters[f]);
    for (const [k, v] of Object.entries(next)) if (v) q.set(k, v);
    return `#/runs/${encodeURIComponent(rg)}${q.size ? '?' + q : ''}`;
  };
  // A changed filter starts again at the first page.
  // (Read from the address, not from this render: a second change may come before the page is drawn again.)
  const refilter = key => e => {
    const current = parseHash().query;
    location.hash = link({}, { ...Object.fromEntries(FILTERS.map(f => [f, current.get(f) || ''])), [key]: e.target.value });
  };
  const select = (id, key, all, values) => h('select', { id, onchange: refilter(key) },
    h('option', { value: '' }, all),
    values.map(([value, label]) => h('option', { value, selected: value === chosen[key] }, label)));
  const configurations = options.configurations.filter(c => !chosen.scenarioId || c.scenarioId === chosen.scenarioId);
  const described = [chosen.status, chosen.scenarioId && `scenario ${chosen.scenarioId}`,
    chosen.configurationId && `configuration ${options.configurations.find(c => c.id === chosen.configurationId)?.name ?? chosen.configurationId}`].filter(Boolean);
  // The cursor trail: "back" holds the cursors of earlier pages, so Previous needs no offset.
  const trail = back ? back.split('~') : [];
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Resource groups'), ' / ', rg),
    h('h1', {}, `Executions in ${rg}`),
    h('div', { class: 'row filters', role: 'group', 'aria-label': 'Filters' },
      h('label', { for: 'status-filter' }, 'Status'), select('status-filter', 'status', 'All statuses', STATUSES.map(x => [x, x])),
      h('label', { for: 'scenario-filter' }, 'Scenario'), select('scenario-filter', 'scenarioId', 'All scenarios', options.scenarios.map(x => [x, x])),
      h('label', { for: 'configuration-filter' }, 'Configuration'), select('configuration-filter', 'configurationId', 'All configurations', configurations.map(c => [c.id, `${c.name} (${c.id})`])),
      described.length ? h('a', { class: 'button', id: 'clear-filters', href: `#/runs/${encodeURIComponent(rg)}` }, 'Clear filters') : ''),
    page.resources.length === 0
      ? empty(described.length ? `No executions in ${rg} match: ${described.join(', ')}.` : `No executions in ${rg} yet. Start one with POST /v2/lm/executions.`)
      : table(['Execution', 'Status', 'Scenario', 'Executable', 'Configuration', 'Created', 'Finished', { label: 'Duration', num: true }],
        page.resources.map(e => h('tr', { 'data-execution': e.id },
          h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(rg)}/${encodeURIComponent(e.id)}` }, h('code', {}, e.id))),
          h('td', {}, badge(e.status)),
          h('td', {}, e.scenarioId ?? '–'),
          h('td', {}, e.executableId ?? '–'),
          h('td', {}, e.configurationName ?? e.configurationId),
          h('td', {}, when(e.createdAt)),
          h('td', {}, when(e.finishedAt)),
          h('td', { class: 'num' }, duration(e.durationMs)))), { label: 'Executions' }),
    h('div', { class: 'row' },
      trail.length || cursor
        ? h('a', { class: 'button', href: link({ cursor: trail.at(-1) === '-' ? '' : trail.at(-1), back: trail.slice(0, -1).join('~') }) }, '← Previous')
        : '',
      page.nextCursor
        ? h('a', { class: 'button', id: 'next-page', href: link({ cursor: page.nextCursor, back: [...trail, cursor || '-'].join('~') }) }, 'Next →')
        : ''));
}

export async function executionPage(rg, id) {
  const { query } = parseHash();
  const compare = (query.get('compare') || '').split(',').filter(x => x && x !== id).slice(0, 9);
  const base = `/resource-groups/${encodeURIComponent(rg)}`;
  const [detail, logs, siblings] = await Promise.all([
    api('GET', `${base}/executions/${encodeURIComponent(id)}`),
    api('GET', `${base}/executions/${encodeURIComponent(id)}/logs?top=200`),
    api('GET', `${base}/executions?limit=50`),
  ]);
  const e = detail.execution;
  const ids = [id, ...compare];
  const metrics = await api('GET', `${base}/metrics?executionIds=${ids.map(encodeURIComponent).join(',')}&maxPoints=2000`);
  const canStop = session.can.runsWrite && (e.status === 'PENDING' || e.status === 'RUNNING');
  const canDelete = session.can.runsWrite && ['COMPLETED', 'DEAD', 'STOPPED', 'UNKNOWN'].includes(e.status);
  const params = safeJson(detail.parameterBindings);
  const logBox = h('pre', { class: 'log', id: 'log-tail', tabindex: 0, 'aria-label': 'Log tail' }, logText(logs));

  const byName = new Map();
  for (const s of metrics.series) {
    if (!byName.has(s.name)) byName.set(s.name, []);
    byName.get(s.name).push(s);
  }
  // A zoomed chart asks the server for that window of its metric, down-sampled again.
  const fetchWindow = name => async (from, to) => {
    const q = new URLSearchParams({ executionIds: ids.join(','), name, maxPoints: '2000', from: String(from), to: String(to) });
    const fresh = await api('GET', `${base}/metrics?${q}`);
    return fresh.series.map(s => ({ label: s.executionId, points: s.points, inWindow: s.inWindow }));
  };
  const charts = [...byName].map(([name, list]) => lineChart(name,
    list.map(s => ({ label: s.executionId, color: `c${ids.indexOf(s.executionId) % 10}`, points: s.points, total: s.total })),
    list[0].axis, { fetchWindow: fetchWindow(name) }));

  const others = siblings.resources.filter(x => x.id !== id);
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Resource groups'), ' / ', h('a', { href: `#/runs/${encodeURIComponent(rg)}` }, rg), ' / ', id),
    h('h1', {}, 'Execution ', h('code', {}, id), ' ', badge(e.status)),
    h('div', { class: 'row' },
      canStop ? h('button', { type: 'button', id: 'stop', onclick: async ev => {
        ev.target.disabled = true;
        try { await api('POST', `${base}/executions/${encodeURIComponent(id)}/stop`); toast('Stop requested.'); await executionPage(rg, id); } catch (err) { ev.target.after(errorBox(err)); ev.target.disabled = false; }
      } }, 'Stop') : '',
      canDelete ? h('button', { type: 'button', class: 'danger', id: 'delete', onclick: () => deleteFlow({
        kind: 'execution', id, scope: rg, label: `execution ${id}`, after: () => { location.hash = `#/runs/${encodeURIComponent(rg)}`; },
      }) }, 'Delete…') : ''),
    h('div', { class: 'grid' },
      h('section', { class: 'panel', 'aria-labelledby': 'h-timeline' }, h('h2', { id: 'h-timeline' }, 'Status timeline'),
        timeline(detail.timeline, e.status),
        h('p', { class: 'muted small' }, 'Each status at the time the store keeps for it (created, submitted, started, stop requested, finished).')),
      h('section', { class: 'panel', 'aria-labelledby': 'h-status' }, h('h2', { id: 'h-status' }, 'Status'),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Status'), h('dd', { id: 'exec-status' }, e.status),
          h('dt', {}, 'Target status'), h('dd', {}, e.targetStatus),
          h('dt', {}, 'Scenario'), h('dd', {}, e.scenarioId ?? '–'),
          h('dt', {}, 'Executable'), h('dd', {}, e.executableId ?? '–'),
          h('dt', {}, 'Configuration'), h('dd', {}, `${e.configurationName ?? ''} (${e.configurationId})`),
          h('dt', {}, 'Created'), h('dd', {}, when(e.createdAt)),
          h('dt', {}, 'Started'), h('dd', {}, when(e.startedAt)),
          h('dt', {}, 'Finished'), h('dd', {}, when(e.finishedAt)),
          h('dt', {}, 'Duration'), h('dd', {}, duration(e.durationMs)),
          detail.statusMessage ? [h('dt', {}, 'Message'), h('dd', {}, detail.statusMessage)] : '')),
      h('section', { class: 'panel', 'aria-labelledby': 'h-params' }, h('h2', { id: 'h-params' }, 'Parameters'),
        params.length ? h('dl', { class: 'kv' }, params.map(p => [h('dt', {}, p.key), h('dd', {}, p.value)])) : h('p', { class: 'muted' }, 'No parameters.')),
      h('section', { class: 'panel', 'aria-labelledby': 'h-tags' }, h('h2', { id: 'h-tags' }, 'Tags and custom info'),
        kv(detail.tags, 'No tags.'), h('h2', {}, 'Custom info'), kv(detail.customInfo, 'No custom info.'))),
    h('section', { 'aria-labelledby': 'h-metrics' },
      h('h2', { id: 'h-metrics' }, 'Metrics'),
      others.length ? h('fieldset', { class: 'panel' }, h('legend', {}, 'Compare with'),
        h('div', { class: 'compare' }, others.map(o => h('label', {},
          h('input', { type: 'checkbox', value: o.id, checked: compare.includes(o.id), 'data-compare': o.id, onchange: ev => {
            const next = new Set(compare);
            if (ev.target.checked) next.add(o.id); else next.delete(o.id);
            location.hash = `#/runs/${encodeURIComponent(rg)}/${encodeURIComponent(id)}${next.size ? '?compare=' + [...next].join(',') : ''}`;
          } }), o.id, ' ', badge(o.status))))) : '',
      charts.length ? h('div', { class: 'charts', id: 'charts' }, charts) : empty('This execution has logged no metrics (PATCH /v2/lm/metrics).')),
    h('section', { class: 'panel', 'aria-labelledby': 'h-logs' }, h('h2', { id: 'h-logs' }, `Log tail (last ${num(logs.lines.length)} lines)`), logBox));

  logBox.scrollTop = logBox.scrollHeight;

  // A live tail while the run may still write.
  if (e.status === 'RUNNING' || e.status === 'PENDING' || e.status === 'STOPPING') {
    const poll = async () => {
      try {
        const fresh = await api('GET', `${base}/executions/${encodeURIComponent(id)}/logs?top=200`);
        logBox.textContent = logText(fresh);
        logBox.scrollTop = logBox.scrollHeight;
        const now = await api('GET', `${base}/executions/${encodeURIComponent(id)}`);
        document.getElementById('exec-status').textContent = now.execution.status;
        if (now.execution.status !== e.status) { await executionPage(rg, id); return; }
      } catch (error) {
        if (error instanceof StaleNavigation) return; // the user left this page: stop polling
        /* otherwise the next poll tries again */
      }
      timer = setTimeout(poll, LIVE_POLL_MS);
    };
    timer = setTimeout(poll, LIVE_POLL_MS);
  }
}

const SOURCES = { created_at: 'created', submission_time: 'submitted', start_time: 'started', completion_time: 'finished', stop_requested_at: 'stop requested', modified_at: 'last change' };

function timeline(entries, current) {
  return h('ol', { class: 'timeline', id: 'timeline', 'aria-label': 'Status timeline' }, entries.map((t, i) => {
    const next = entries[i + 1];
    const live = !next && t.status === current && !['COMPLETED', 'DEAD', 'STOPPED', 'UNKNOWN'].includes(current);
    return h('li', { 'data-status': t.status },
      badge(t.status), ' ', h('time', { datetime: t.at }, when(t.at)),
      h('span', { class: 'muted' }, ` (${SOURCES[t.source] ?? t.source})`),
      next ? h('span', { class: 'muted' }, ` · ${duration(new Date(next.at) - new Date(t.at))} until ${next.status}`) : live ? h('span', { class: 'muted' }, ' · now') : '');
  }));
}

function logText(logs) {
  return logs.lines.length ? logs.lines.map(l => `${new Date(l.timestamp).toISOString().slice(11, 23)} ${l.stream === 'stderr' ? '!' : ' '} ${l.msg}`).join('\n') : '(no log lines)';
}

function kv(map, none) {
  const entries = Object.entries(map || {});
  return entries.length ? h('dl', { class: 'kv' }, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : h('p', { class: 'muted' }, none);
}

function safeJson(text) {
  try { return JSON.parse(text) || []; } catch { return []; }
}
