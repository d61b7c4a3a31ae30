// LLM Observability: projects → datasets (records by version, diff of two versions, CSV export)
// and experiments (soft-deleted toggle, delete with preview and restore, events and score summary).
import { h, api, render, table, badge, when, empty, errorBox, session, parseHash, num, StaleNavigation } from './app.js';
import { deleteFlow, restoreButton } from './lifecycle.js';

const V1 = '/llm-obs/v1';

export async function projectsPage() {
  const projects = (await api('GET', `${V1}/projects`)).data;
  render(
    h('h1', {}, 'LLM Obs projects'),
    projects.length === 0 ? empty('No projects yet. Create one with POST /api/v2/llm-obs/v1/projects.')
      : table(['Project', 'Description', 'Created', ''], projects.map(p => h('tr', { 'data-project': p.id },
        h('td', {}, h('a', { href: `#/llm/${encodeURIComponent(p.id)}` }, p.attributes.name)),
        h('td', {}, p.attributes.description ?? ''),
        h('td', {}, when(p.attributes.created_at)),
        h('td', {}, session.can.llmWrite ? h('button', { type: 'button', class: 'danger', 'data-delete-project': p.id, onclick: () => deleteFlow({
          kind: 'llm_project', id: p.id, label: `project ${p.attributes.name}`, after: () => projectsPage(),
        }) }, 'Delete…') : ''))), { label: 'Projects' }));
}

export async function projectPage(projectId) {
  const { query } = parseHash();
  const showDeleted = query.get('deleted') === '1';
  const p = encodeURIComponent(projectId);
  const [datasets, experiments, projects] = await Promise.all([
    api('GET', `${V1}/${p}/datasets`),
    api('GET', `${V1}/experiments?filter[project_id]=${p}${showDeleted ? '&filter[is_deleted]=true' : ''}&include[dataset_names]=true`),
    api('GET', `${V1}/projects`),
  ]);
  const project = projects.data.find(x => x.id === projectId);
  const toggle = h('input', { type: 'checkbox', id: 'show-deleted', checked: showDeleted, onchange: e => {
    location.hash = `#/llm/${p}${e.target.checked ? '?deleted=1' : ''}`;
  } });
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/llm' }, 'Projects'), ' / ', project?.attributes.name ?? projectId),
    h('h1', {}, project?.attributes.name ?? projectId),
    h('h2', {}, 'Datasets'),
    datasets.data.length === 0 ? empty('No datasets in this project.')
      : table(['Dataset', { label: 'Current version', num: true }, 'Updated', ''], datasets.data.map(d => h('tr', { 'data-dataset': d.id },
        h('td', {}, h('a', { href: `#/llm/${p}/datasets/${encodeURIComponent(d.id)}` }, d.attributes.name)),
        h('td', { class: 'num' }, d.attributes.current_version),
        h('td', {}, when(d.attributes.updated_at)),
        h('td', {}, session.can.llmWrite ? h('button', { type: 'button', class: 'danger', 'data-delete-dataset': d.id, onclick: () => deleteFlow({
          kind: 'llm_dataset', id: d.id, label: `dataset ${d.attributes.name}`, after: () => projectPage(projectId),
        }) }, 'Delete…') : ''))), { label: 'Datasets' }),
    h('h2', {}, 'Experiments'),
    h('div', { class: 'row' }, toggle, h('label', { for: 'show-deleted' }, 'Show soft-deleted experiments only')),
    experiments.data.length === 0 ? empty(showDeleted ? 'No soft-deleted experiments.' : 'No experiments in this project.')
      : table(['Experiment', 'Status', 'Dataset', 'Created', showDeleted ? 'Deleted' : '', ''], experiments.data.map(x => h('tr', { 'data-experiment': x.id, class: showDeleted ? 'deleted' : undefined },
        h('td', {}, showDeleted ? x.attributes.name : h('a', { href: `#/llm/${p}/experiments/${encodeURIComponent(x.id)}` }, x.attributes.name)),
        h('td', {}, badge(x.attributes.status)),
        h('td', {}, x.attributes.dataset_name ?? x.attributes.dataset_id),
        h('td', {}, when(x.attributes.created_at)),
        h('td', {}, showDeleted ? when(x.attributes.deleted_at) : ''),
        h('td', {}, !session.can.llmWrite ? ''
          : showDeleted ? restoreFor(x.id, () => projectPage(projectId))
          : h('button', { type: 'button', class: 'danger', 'data-delete': x.id, onclick: () => deleteFlow({
            kind: 'llm_experiment', id: x.id, label: `experiment ${x.attributes.name}`, after: () => projectPage(projectId),
          }) }, 'Delete…')))), { label: 'Experiments' }));
}

function restoreFor(experimentId, then) {
  const slot = h('span', {}, '…');
  api('GET', `/deletions/latest/llm_experiment/${encodeURIComponent(experimentId)}`).then(
    job => slot.replaceChildren(job.state === 'queued' ? restoreButton(job, then) : `job ${job.state}`),
    error => slot.replaceChildren(errorBox(error)));
  return slot;
}

async function allRecords(p, d, version) {
  const rows = [];
  let cursor = '';
  for (let i = 0; i < 20; i++) {
    const page = await api('GET', `${V1}/${p}/datasets/${d}/records?page[limit]=1000&filter[version]=${version}${cursor ? '&page[cursor]=' + encodeURIComponent(cursor) : ''}`);
    rows.push(...page.data);
    if (!page.meta?.after) break;
    cursor = page.meta.after;
  }
  return rows;
}

const show = v => v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);

export async function datasetPage(projectId, datasetId) {
  const { query } = parseHash();
  const p = encodeURIComponent(projectId), d = encodeURIComponent(datasetId);
  const [datasets, versions] = await Promise.all([api('GET', `${V1}/${p}/datasets`), api('GET', `${V1}/${p}/datasets/${d}/versions`)]);
  const dataset = datasets.data.find(x => x.id === datasetId);
  const current = dataset?.attributes.current_version ?? 0;
  const numbers = [...new Set([...versions.data.map(v => v.attributes.version_number), current])].sort((a, b) => b - a);
  const version = Number(query.get('version') ?? current);
  const against = query.get('diff');
  const go = (v, diff) => { location.hash = `#/llm/${p}/datasets/${d}?version=${v}${diff !== null && diff !== '' ? '&diff=' + diff : ''}`; };
  const picker = h('select', { id: 'version', onchange: e => go(e.target.value, against) }, numbers.map(n => h('option', { value: n, selected: n === version }, `v${n}${n === current ? ' (current)' : ''}`)));
  const diffPicker = h('select', { id: 'diff-version', onchange: e => go(version, e.target.value) },
    h('option', { value: '' }, 'no diff'), numbers.filter(n => n !== version).map(n => h('option', { value: n, selected: String(n) === against }, `v${n}`)));
  const records = await allRecords(p, d, version);
  let body;
  if (against) {
    const other = await allRecords(p, d, against);
    const before = new Map(other.map(r => [r.id, r])), after = new Map(records.map(r => [r.id, r]));
    const out = [];
    for (const r of records) {
      const old = before.get(r.id);
      if (!old) out.push(['added', r]);
      else if (show(old.input) !== show(r.input) || show(old.expected_output) !== show(r.expected_output) || show(old.metadata) !== show(r.metadata)) out.push(['changed', r, old]);
    }
    for (const r of other) if (!after.has(r.id)) out.push(['removed', r]);
    const cls = { added: 'diff-add', removed: 'diff-del', changed: 'diff-chg' };
    body = [h('p', { id: 'diff-summary' }, `v${against} → v${version}: ${out.filter(x => x[0] === 'added').length} added, ${out.filter(x => x[0] === 'removed').length} removed, ${out.filter(x => x[0] === 'changed').length} changed.`),
      out.length === 0 ? empty('The two versions hold the same records.') :
        table(['Change', 'Record', 'Input', 'Expected output'], out.map(([kind, r, old]) => h('tr', { class: cls[kind], 'data-change': kind },
          h('td', {}, kind), h('td', {}, h('code', {}, r.id)),
          h('td', {}, old && show(old.input) !== show(r.input) ? `${show(old.input)} → ${show(r.input)}` : show(r.input)),
          h('td', {}, old && show(old.expected_output) !== show(r.expected_output) ? `${show(old.expected_output)} → ${show(r.expected_output)}` : show(r.expected_output)))), { label: 'Differences' })];
  } else {
    body = records.length === 0 ? empty(`Version ${version} has no records.`) :
      table(['Record', 'Input', 'Expected output', 'Metadata'], records.map(r => h('tr', { 'data-record': r.id },
        h('td', {}, h('code', {}, r.id)), h('td', {}, show(r.input)), h('td', {}, show(r.expected_output)), h('td', {}, show(r.metadata)))), { label: 'Records' });
  }
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/llm' }, 'Projects'), ' / ', h('a', { href: `#/llm/${p}` }, projectId), ' / ', dataset?.attributes.name ?? datasetId),
    h('h1', {}, `Dataset ${dataset?.attributes.name ?? datasetId}`),
    h('div', { class: 'row' },
      h('label', { for: 'version' }, 'Version'), picker,
      h('label', { for: 'diff-version' }, 'Compare with'), diffPicker,
      h('a', { class: 'button', id: 'export-csv', href: `/ui/api${V1}/${p}/datasets/${d}/export?version=${version}`, download: `${dataset?.attributes.name ?? datasetId}-v${version}.csv` }, 'Export CSV')),
    h('p', { class: 'muted', id: 'record-count' }, `${num(records.length)} records in v${version}.`),
    body);
}

const clip = (v, n = 120) => { const t = show(v); return t.length > n ? t.slice(0, n - 1) + '…' : t; };

export async function experimentPage(projectId, experimentId) {
  const p = encodeURIComponent(projectId);
  const [events, experiments] = await Promise.all([
    api('GET', `${V1}/experiments/${encodeURIComponent(experimentId)}/events`),
    api('GET', `${V1}/experiments?filter[project_id]=${p}&filter[id]=${encodeURIComponent(experimentId)}&include[dataset_names]=true`).catch(error => { if (error instanceof StaleNavigation) throw error; return { data: [] }; }),
  ]);
  const experiment = experiments.data.find(x => x.id === experimentId);
  const { spans, summary_metrics: summary } = events.data.attributes;
  const metrics = [...spans.flatMap(s => s.eval_metrics), ...summary];
  const byLabel = new Map();
  for (const m of metrics) {
    if (!byLabel.has(m.label)) byLabel.set(m.label, []);
    byLabel.get(m.label).push(m);
  }
  const valueOf = m => m.score_value ?? m.categorical_value ?? m.boolean_value ?? (m.json_value ? JSON.stringify(m.json_value) : '');
  const tally = values => Object.entries(values.reduce((acc, v) => ({ ...acc, [v]: (acc[v] || 0) + 1 }), {})).map(([k, v]) => `${k} ×${v}`).join(', ');
  const errors = spans.filter(s => s.status === 'error').length;
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/llm' }, 'Projects'), ' / ', h('a', { href: `#/llm/${p}` }, projectId), ' / ', experiment?.attributes.name ?? experimentId),
    h('h1', {}, 'Experiment ', experiment ? experiment.attributes.name : h('code', {}, experimentId), experiment ? [' ', badge(experiment.attributes.status)] : ''),
    experiment ? h('dl', { class: 'kv panel', id: 'experiment-info' },
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, experimentId)),
      h('dt', {}, 'Dataset'), h('dd', {}, experiment.attributes.dataset_name ?? experiment.attributes.dataset_id ?? '–'),
      h('dt', {}, 'Created'), h('dd', {}, when(experiment.attributes.created_at)),
      h('dt', {}, 'Spans'), h('dd', { id: 'span-counts' }, `${num(spans.length)} (${num(errors)} with errors)`)) : '',
    h('h2', {}, 'Score summary'),
    byLabel.size === 0 ? empty('No evaluation metrics yet.') :
      table(['Metric', 'Type', { label: 'Count', num: true }, { label: 'Mean', num: true }, { label: 'Min', num: true }, { label: 'Max', num: true }, 'Values', 'Assessments'],
        [...byLabel].map(([label, list]) => {
          const scores = list.map(m => m.score_value).filter(v => typeof v === 'number');
          return h('tr', { 'data-metric': label },
            h('td', {}, label), h('td', {}, list[0].metric_type), h('td', { class: 'num' }, list.length),
            h('td', { class: 'num' }, scores.length ? (scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(3) : '–'),
            h('td', { class: 'num' }, scores.length ? Math.min(...scores) : '–'),
            h('td', { class: 'num' }, scores.length ? Math.max(...scores) : '–'),
            h('td', {}, tally(list.filter(m => m.score_value === null || m.score_value === undefined).map(m => String(valueOf(m))))),
            h('td', {}, tally(list.filter(m => m.assessment).map(m => m.assessment))));
        }), { label: 'Score summary' }),
    summary.length === 0 ? '' : [h('h2', {}, 'Experiment-level metrics'),
      table(['Metric', 'Type', 'Value', 'Assessment', 'Reasoning'], summary.map(m => h('tr', { 'data-summary-metric': m.label },
        h('td', {}, m.label), h('td', {}, m.metric_type), h('td', {}, clip(valueOf(m))), h('td', {}, m.assessment ?? ''), h('td', {}, m.reasoning ?? ''))), { label: 'Experiment-level metrics' })],
    h('h2', {}, `Spans (${num(spans.length)})`),
    spans.length === 0 ? empty('No events yet (POST /api/v2/llm-obs/v1/experiments/{id}/events).') :
      table(['Span', 'Name', 'Status', { label: 'Duration (ms)', num: true }, 'Input', 'Output', 'Evaluations'], spans.map(s => h('tr', { 'data-span': s.span_id },
        h('td', {}, h('code', {}, s.span_id)), h('td', {}, s.name), h('td', {}, badge(s.status)),
        h('td', { class: 'num' }, (s.duration / 1e6).toFixed(1)),
        h('td', { class: 'span-io' }, clip(s.meta?.input)),
        h('td', { class: 'span-io' }, s.meta?.error ? h('span', { class: 's-failed' }, clip(s.meta.error.message ?? s.meta.error)) : clip(s.meta?.output)),
        h('td', {}, s.eval_metrics.map(m => `${m.label}: ${valueOf(m)}${m.assessment ? ` (${m.assessment})` : ''}`).join(', ')))), { label: 'Spans' }));
}
