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

const valueOf = m => m.score_value ?? m.categorical_value ?? m.boolean_value ?? (m.json_value ? JSON.stringify(m.json_value) : '');
const tally = (counts, others = 0) => [...counts.map(c => `${c.value} ×${num(c.count)}`), ...(others > 0 ? [`${num(others)} other`] : [])].join(', ');
const SPAN_PAGE = 50;

// The summary is aggregated on the server over every event; the spans come a page at a time
// (keyset cursor), and Previous/Next redraw only the spans, so the summary is read once per visit.
export async function experimentPage(projectId, experimentId) {
  const p = encodeURIComponent(projectId), x = encodeURIComponent(experimentId);
  const [summary, first, experiments] = await Promise.all([
    api('GET', `${V1}/experiments/${x}/summary`),
    api('GET', `${V1}/experiments/${x}/spans?limit=${SPAN_PAGE}`),
    api('GET', `${V1}/experiments?filter[project_id]=${p}&filter[id]=${x}&include[dataset_names]=true`).catch(error => { if (error instanceof StaleNavigation) throw error; return { data: [] }; }),
  ]);
  const experiment = experiments.data.find(e => e.id === experimentId);
  const level = summary.experiment_metrics;
  const spansBox = h('section', { id: 'spans', 'aria-labelledby': 'h-spans' });
  // cursors[i] is the cursor that loads page i ('' for the first).
  const cursors = [''];
  const showSpans = (page, index, focus) => {
    const from = index * SPAN_PAGE + 1, to = index * SPAN_PAGE + page.spans.length;
    const go = (target, id) => async () => {
      const buttons = spansBox.querySelectorAll('button');
      buttons.forEach(b => { b.disabled = true; });
      try {
        const next = await api('GET', `${V1}/experiments/${x}/spans?limit=${SPAN_PAGE}${cursors[target] ? '&cursor=' + encodeURIComponent(cursors[target]) : ''}`);
        showSpans(next, target, id);
      } catch (error) {
        if (error instanceof StaleNavigation) return;
        buttons.forEach(b => { b.disabled = false; });
        spansBox.append(errorBox(error));
      }
    };
    if (page.next_cursor) cursors[index + 1] = page.next_cursor;
    const pager = h('div', { class: 'row', role: 'group', 'aria-label': 'Span pages' },
      index > 0 ? h('button', { type: 'button', id: 'spans-previous', onclick: go(index - 1, 'spans-previous') }, '← Previous') : '',
      page.next_cursor ? h('button', { type: 'button', id: 'spans-next', onclick: go(index + 1, 'spans-next') }, 'Next →') : '',
      h('span', { class: 'muted', id: 'span-range', 'aria-live': 'polite' },
        page.spans.length ? `Spans ${num(from)}–${num(to)} of ${num(summary.spans)}` : ''));
    spansBox.replaceChildren(
      h('h2', { id: 'h-spans' }, `Spans (${num(summary.spans)})`),
      page.spans.length === 0 ? empty(index === 0 ? 'No events yet (POST /api/v2/llm-obs/v1/experiments/{id}/events).' : 'No more spans.') :
        table(['Span', 'Name', 'Status', { label: 'Duration (ms)', num: true }, 'Input', 'Output', 'Evaluations'], page.spans.map(s => h('tr', { 'data-span': s.span_id },
          h('td', {}, h('code', {}, s.span_id)), h('td', {}, s.name), h('td', {}, badge(s.status)),
          h('td', { class: 'num' }, (s.duration / 1e6).toFixed(1)),
          h('td', { class: 'span-io' }, clip(s.meta?.input)),
          h('td', { class: 'span-io' }, s.meta?.error ? h('span', { class: 's-failed' }, clip(s.meta.error.message ?? s.meta.error)) : clip(s.meta?.output)),
          h('td', {}, s.eval_metrics.map(m => `${m.label}: ${valueOf(m)}${m.assessment ? ` (${m.assessment})` : ''}`).join(', ')))), { label: 'Spans' }),
      page.spans.length || index > 0 ? pager : '');
    // Keep the keyboard where it was: on the same button, or on the other one when this end has none.
    if (focus) (document.getElementById(focus) ?? spansBox.querySelector('button'))?.focus();
  };
  showSpans(first, 0, null);
  render(
    h('div', { class: 'crumbs' }, h('a', { href: '#/llm' }, 'Projects'), ' / ', h('a', { href: `#/llm/${p}` }, projectId), ' / ', experiment?.attributes.name ?? experimentId),
    h('h1', {}, 'Experiment ', experiment ? experiment.attributes.name : h('code', {}, experimentId), experiment ? [' ', badge(experiment.attributes.status)] : ''),
    experiment ? h('dl', { class: 'kv panel', id: 'experiment-info' },
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, experimentId)),
      h('dt', {}, 'Dataset'), h('dd', {}, experiment.attributes.dataset_name ?? experiment.attributes.dataset_id ?? '–'),
      h('dt', {}, 'Created'), h('dd', {}, when(experiment.attributes.created_at)),
      h('dt', {}, 'Spans'), h('dd', { id: 'span-counts' }, `${num(summary.spans)} (${num(summary.error_spans)} with errors)`)) : '',
    h('h2', {}, 'Score summary'),
    summary.metrics.length === 0 ? empty('No evaluation metrics yet.') :
      table(['Metric', 'Type', { label: 'Count', num: true }, { label: 'Mean', num: true }, { label: 'Min', num: true }, { label: 'Max', num: true }, 'Values', 'Assessments'],
        summary.metrics.map(m => h('tr', { 'data-metric': m.label },
          h('td', {}, m.label), h('td', {}, m.metric_type), h('td', { class: 'num' }, num(m.count)),
          h('td', { class: 'num' }, m.scores ? m.mean.toFixed(3) : '–'),
          h('td', { class: 'num' }, m.scores ? m.min : '–'),
          h('td', { class: 'num' }, m.scores ? m.max : '–'),
          h('td', {}, tally(m.values, m.other_values)),
          h('td', {}, tally(m.assessments)))), { label: 'Score summary' }),
    level.length === 0 ? '' : [h('h2', {}, 'Experiment-level metrics'),
      table(['Metric', 'Type', 'Value', 'Assessment', 'Reasoning'], level.map(m => h('tr', { 'data-summary-metric': m.label },
        h('td', {}, m.label), h('td', {}, m.metric_type), h('td', {}, clip(valueOf(m))), h('td', {}, m.assessment ?? ''), h('td', {}, m.reasoning ?? ''))), { label: 'Experiment-level metrics' })],
    spansBox);
}
