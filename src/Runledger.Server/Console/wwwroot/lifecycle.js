// Delete with a preview (dry-run, typed confirmation for large deletes, live job progress),
// and the admin pages: Deletions (restore within grace, retry), Audit (chain verification), Holds.
import { h, api, render, table, badge, when, empty, errorBox, num, toast } from './app.js';

// Which deletes are large (1,000 rows or more, the target included) is the server's rule: its
// preview says so (confirmationRequired, confirmationName) and its delete refuses a large one
// whose "confirm" is not that name, so the dialog only relays it.

function graceText(seconds) {
  if (!seconds) return 'none — reclaimed at once';
  const d = Math.floor(seconds / 86400), hrs = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return [d && `${d} d`, hrs && `${hrs} h`, m && `${m} min`].filter(Boolean).join(' ') || `${seconds} s`;
}

export function deleteFlow({ kind, id, scope, label, after }) {
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Working out what would be deleted…'));
  const close = h('button', { type: 'button', id: 'close-dialog', onclick: () => { dialog.close(); } }, 'Cancel');
  const actions = h('div', { class: 'row' }, close);
  const dialog = h('dialog', { id: 'delete-dialog', 'aria-labelledby': 'delete-title' },
    h('h1', { id: 'delete-title' }, `Delete ${label}?`), body, actions);
  let finished = false;
  dialog.addEventListener('close', () => { dialog.remove(); if (finished) after?.(); });
  document.body.append(dialog);
  dialog.showModal();

  (async () => {
    let preview;
    try {
      preview = await api('POST', '/deletions/preview', { kind, id, scope });
    } catch (error) {
      body.replaceChildren(errorBox(error));
      return;
    }
    if (!preview.found) {
      body.replaceChildren(errorBox(`There is no ${kind} '${id}' any more (or it is already being deleted).`));
      return;
    }
    const rows = Object.entries(preview.rows);
    const total = preview.total;
    const large = preview.confirmationRequired;
    const name = preview.confirmationName;
    const confirmInput = h('input', { id: 'confirm-name', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'confirm-help' });
    const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-delete', disabled: large || !!preview.hold }, 'Delete');
    confirmInput.addEventListener('input', () => { confirm.disabled = confirmInput.value !== name; });
    confirmInput.addEventListener('keydown', ev => { if (ev.key === 'Enter' && !confirm.disabled) confirm.click(); });
    body.replaceChildren(
      h('p', {}, 'This is a dry run: nothing has changed yet. The delete would remove:'),
      table(['What', { label: 'Rows', num: true }], [
        ...rows.map(([what, n]) => h('tr', { 'data-kind': what }, h('td', {}, what), h('td', { class: 'num', 'data-rows': n }, num(n)))),
        h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { class: 'num', id: 'preview-total' }, num(total))),
      ], { label: 'Rows per kind' }),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Grace period'), h('dd', { id: 'preview-grace' }, graceText(preview.graceSeconds)),
        h('dt', {}, 'Restorable'), h('dd', { id: 'preview-restorable' }, preview.restorable ? 'yes, until the grace period ends' : 'no — this cannot be undone')),
      preview.hold ? errorBox(`A legal hold on ${preview.hold.kind} '${preview.hold.id}' refuses this delete: ${preview.hold.reason}`) : '',
      large && !preview.hold ? h('div', {},
        h('label', { for: 'confirm-name' }, `Type ${name} to confirm`),
        h('p', { id: 'confirm-help', class: 'muted' }, `This deletes ${num(total)} rows.`),
        confirmInput) : '');
    actions.prepend(confirm);
    (large ? confirmInput : confirm).focus();
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      let accepted;
      try {
        accepted = await api('POST', '/deletions', large ? { kind, id, scope, confirm: confirmInput.value } : { kind, id, scope });
      } catch (error) {
        body.append(errorBox(error));
        confirm.disabled = false;
        return;
      }
      finished = true;
      confirm.remove();
      close.textContent = 'Close';
      await follow(accepted.jobId, total, body);
    });
  })();
}

/** Polls the job until it is done, failed or restored, or waits for its grace period (restorable meanwhile). */
async function follow(jobId, expected, body) {
  const bar = h('progress', { id: 'job-progress', max: Math.max(expected, 1), value: 0 });
  const state = h('span', { id: 'job-state' }, 'queued');
  const removed = h('span', { id: 'job-removed' }, '0');
  const extra = h('div');
  body.replaceChildren(h('p', {}, 'Deletion job ', h('code', { id: 'job-id' }, jobId), ': ', state),
    bar, h('p', {}, 'Rows removed: ', removed, ` of ${num(expected)} previewed`), extra);
  for (;;) {
    let job;
    try { job = await api('GET', `/deletions/${encodeURIComponent(jobId)}`, undefined, { keepAcrossNavigation: true }); } catch (error) { extra.replaceChildren(errorBox(error)); return; }
    state.textContent = job.state;
    state.className = `badge s-${job.state}`;
    removed.textContent = num(job.rowsRemoved);
    bar.value = job.rowsRemoved;
    const waiting = job.state === 'queued' && new Date(job.purgeAfter) > new Date();
    if (job.state === 'done' || job.state === 'failed' || job.state === 'restored' || waiting) {
      if (job.state === 'done') extra.replaceChildren(h('p', { id: 'job-finished' }, `Finished ${when(job.finishedAt)}: `, Object.entries(job.removed).map(([k, v]) => `${k} ${num(v)}`).join(', ')));
      if (job.state === 'failed') extra.replaceChildren(errorBox(`The job failed: ${job.error}`));
      if (waiting) extra.replaceChildren(h('p', { id: 'job-waiting' }, `Hidden now; reclaimed after ${when(job.purgeAfter)}. Until then it can be restored.`),
        restoreButton(job, () => follow(jobId, expected, body)));
      return;
    }
    await new Promise(resolve => setTimeout(resolve, 300));
  }
}

export function restoreButton(job, then) {
  return h('button', { type: 'button', class: 'primary', 'data-restore': job.id, onclick: async ev => {
    ev.target.disabled = true;
    try {
      await api('POST', `/deletions/${encodeURIComponent(job.id)}/restore`);
      toast(`Restored ${job.kind} ${job.targetId}.`);
      await then?.();
    } catch (error) {
      ev.target.after(errorBox(error));
      ev.target.disabled = false;
    }
  } }, 'Restore');
}

export async function deletionsPage() {
  const list = await api('GET', '/admin/deletions?limit=100');
  const now = new Date();
  render(
    h('h1', {}, 'Deletions'),
    h('p', { class: 'muted' }, 'Every delete is a durable job: it hides its target at once and reclaims the data in the background. Within the grace period a job can be restored.'),
    list.jobs.length === 0 ? empty('No deletions yet.') :
      table(['Job', 'Kind', 'Target', 'Scope', 'State', 'Requested', 'By', { label: 'Rows removed', num: true }, 'Reclaim after', ''],
        list.jobs.map(j => h('tr', { 'data-job': j.id },
          h('td', {}, h('code', {}, j.id.slice(0, 8))),
          h('td', {}, j.kind),
          h('td', {}, h('code', {}, j.targetId)),
          h('td', {}, j.scope),
          h('td', {}, badge(j.state)),
          h('td', {}, when(j.requestedAt)),
          h('td', {}, j.requestedBy),
          h('td', { class: 'num' }, num(j.rowsRemoved)),
          h('td', {}, new Date(j.purgeAfter) > new Date(j.requestedAt) ? when(j.purgeAfter) : '–'),
          h('td', {},
            j.state === 'queued' && new Date(j.purgeAfter) > now ? restoreButton(j, deletionsPage) : '',
            j.state === 'failed' ? h('button', { type: 'button', onclick: async () => { await api('POST', `/admin/deletions/${j.id}/retry`); await deletionsPage(); } }, 'Retry') : ''))),
        { label: 'Deletion jobs' }));
}

export async function auditPage() {
  const [verify, list] = await Promise.all([api('GET', '/admin/audit/verify'), api('GET', '/admin/audit?limit=200')]);
  render(
    h('h1', {}, 'Audit'),
    h('section', { class: 'panel', id: 'audit-verify', 'aria-labelledby': 'h-verify' },
      h('h2', { id: 'h-verify' }, 'Hash chain ', badge(verify.ok ? 'ok' : 'bad')),
      h('p', { id: 'audit-verify-text' }, verify.ok
        ? `Verified: all ${num(verify.entries)} entries chain correctly.`
        : `Broken at entry ${verify.firstBadSeq}: ${verify.detail}`)),
    list.entries.length === 0 ? empty('The audit log is empty.') :
      table([{ label: 'Seq', num: true }, 'At', 'Actor', 'Action', 'Target', 'Scope', 'Counts', 'Detail'],
        list.entries.map(a => h('tr', {},
          h('td', { class: 'num' }, a.seq), h('td', {}, when(a.at)), h('td', {}, a.actor), h('td', {}, h('code', {}, a.action)),
          h('td', {}, `${a.targetKind} ${a.targetId}`), h('td', {}, a.scope ?? ''),
          h('td', {}, Object.entries(a.counts || {}).map(([k, v]) => `${k} ${num(v)}`).join(', ')), h('td', {}, a.detail ?? ''))),
        { label: 'Audit entries' }));
}

export async function holdsPage() {
  const list = await api('GET', '/admin/holds');
  const kind = h('select', { id: 'hold-kind' }, h('option', { value: 'resource_group' }, 'resource_group'), h('option', { value: 'execution' }, 'execution'));
  const id = h('input', { id: 'hold-id', required: true });
  const scope = h('input', { id: 'hold-scope', placeholder: 'resource group (executions only)' });
  const reason = h('input', { id: 'hold-reason', required: true, maxlength: 1000 });
  const status = h('div');
  render(
    h('h1', {}, 'Legal holds'),
    h('p', { class: 'muted' }, 'While a hold is set, deleting its target, anything inside it or anything containing it is refused everywhere.'),
    list.holds.length === 0 ? empty('No legal holds.') :
      table(['Kind', 'Target', 'Scope', 'Reason', 'Held by', 'Since', ''], list.holds.map(x => h('tr', { 'data-hold': x.id },
        h('td', {}, x.kind), h('td', {}, h('code', {}, x.id)), h('td', {}, x.scope), h('td', {}, x.reason), h('td', {}, x.heldBy ?? ''), h('td', {}, when(x.heldAt)),
        h('td', {}, h('button', { type: 'button', onclick: async () => { await api('DELETE', `/admin/holds/${x.kind}/${encodeURIComponent(x.id)}`); await holdsPage(); } }, 'Clear')))),
      { label: 'Legal holds' }),
    h('form', { class: 'panel', onsubmit: async ev => {
      ev.preventDefault();
      const q = scope.value ? `?scope=${encodeURIComponent(scope.value)}` : '';
      try {
        await api('PUT', `/admin/holds/${kind.value}/${encodeURIComponent(id.value)}${q}`, { reason: reason.value });
        await holdsPage();
      } catch (error) { status.replaceChildren(errorBox(error)); }
    } },
    h('h2', {}, 'Set a hold'),
    h('div', { class: 'grid' },
      h('div', {}, h('label', { for: 'hold-kind' }, 'Kind'), kind),
      h('div', {}, h('label', { for: 'hold-id' }, 'Target id'), id),
      h('div', {}, h('label', { for: 'hold-scope' }, 'Scope'), scope),
      h('div', {}, h('label', { for: 'hold-reason' }, 'Reason'), reason)),
    status,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'hold-set' }, 'Set hold'))));
}
