// views-runs.js: one run of a job (#/runs/ID): state, counts, progress bar,
// one row per image with its log, and Cancel run; polled while it runs.

import { state } from './state.js';
import { append, clear, el, stateBadge } from './dom.js';
import { baseName, fmtTime, scalarText } from './format.js';
import { api } from './api.js';
import { guarded } from './banner.js';
import { current, poll, viewRoot } from './view.js';

const SETTLED = ['done', 'failed', 'cancelled'];

export async function viewRun(id) {
  const gen = state.viewGen;
  const root = viewRoot();
  const expanded = new Set();
  const head = el('div', {});
  const itemsBox = el('div', {});
  append(root, [
    el('div', { class: 'crumbs' }, el('a', { href: '#/jobs', text: 'Jobs' }), ` / run ${id}`),
    el('div', { test: 'run-view', data: { id } }, head, itemsBox),
  ]);
  let data = null;
  const draw = () => {
    clear(head);
    append(head, runHeader(data, id, () => guarded(async () => {
      if (!confirm(`Cancel run ${id}?`)) return;
      await api('POST', `/runs/${encodeURIComponent(id)}/cancel`, {});
      await refresh();
    })));
    clear(itemsBox);
    append(itemsBox, runItemsTable(data.items || [], expanded, draw));
  };
  const refresh = async () => {
    const d = await api('GET', `/runs/${encodeURIComponent(id)}`);
    if (!current(gen)) return false;
    data = d;
    draw();
    return runOf(d).state === 'running';
  };
  if (await refresh()) poll(gen, refresh);
}

function runOf(d) {
  return (d && d.run && typeof d.run === 'object') ? d.run : (d || {});
}

function countsOf(d) {
  if (d.counts && typeof d.counts === 'object') return d.counts;
  const c = {};
  for (const it of d.items || []) c[it.state] = (c[it.state] || 0) + 1;
  return c;
}

function runHeader(d, id, onCancel) {
  const run = runOf(d);
  const counts = countsOf(d);
  const items = d.items || [];
  const total = items.length || (run.settings && run.settings.items) || 0;
  const settled = SETTLED.reduce((n, s) => n + (counts[s] || 0), 0);
  const pct = total ? Math.round((settled * 100) / total) : 0;
  const jobName = typeof d.job === 'object' && d.job ? d.job.name : (d.job || run.job || '');
  const bar = el('div', { class: 'bar' });
  bar.style.width = `${pct}%`;
  const settings = run.settings || {};
  return [
    el('div', { class: 'run-head' },
      el('span', { class: 'title', test: 'run-title', text: `Run ${run.id ?? id} of job ${jobName}` }),
      el('span', { class: `badge ${run.state}`, test: 'run-state', data: { state: run.state || '' }, text: run.state || '' }),
      run.state === 'running' ? el('span', { class: 'spinner' }) : null,
      el('span', { class: 'muted', text: [run.trigger, run.started_at && `started ${fmtTime(run.started_at)}`, run.finished_at && `finished ${fmtTime(run.finished_at)}`].filter(Boolean).join(' · ') }),
      el('span', { class: 'spacer' }),
      run.state === 'running' ? el('button', { class: 'danger', test: 'run-cancel', text: 'Cancel run', on: { click: onCancel } }) : null),
    run.stop_reason ? el('div', { class: 'banner info', test: 'run-reason', text: run.stop_reason }) : null,
    el('div', { class: 'counts', test: 'run-counts' },
      ['pending', 'running', 'done', 'failed', 'cancelled'].map((s) => el('span', { class: `badge ${s}`, test: `count-${s}`, data: { count: counts[s] || 0 }, text: `${s} ${counts[s] || 0}` }))),
    el('div', { class: `progress${counts.failed ? ' has-failures' : ''}`, test: 'run-progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': settled, data: { settled, total } }, bar),
    el('div', { class: 'progress-text', test: 'run-progress-text', text: `${settled} of ${total} image(s) settled${settings.max_concurrent ? ` · at most ${settings.max_concurrent} at once` : ''}${settings.error_threshold !== undefined ? ` · stops when failures exceed ${settings.error_threshold}` : ''}` }),
  ];
}

function runItemsTable(items, expanded, redraw) {
  const cols = ['Image', 'State', 'Attempt', 'Host', 'Result', 'Reason', 'Started', 'Finished', ''];
  const body = el('tbody', {});
  for (const it of items) {
    const key = String(it.image_id ?? it.image);
    const open = expanded.has(key);
    append(body, el('tr', { test: 'run-item', data: { image: it.image || '', imageId: it.image_id ?? '', state: it.state || '' } },
      el('td', {}, el('span', { class: 'file', title: it.image, text: baseName(it.image) }), el('span', { class: 'sub', text: it.image || '' })),
      el('td', {}, stateBadge(it.state, 'item-state')),
      el('td', { class: 'num', test: 'item-attempt', text: scalarText(it.attempt) }),
      el('td', { text: it.host || '' }),
      el('td', { test: 'item-result', text: it.result || '' }),
      el('td', { test: 'item-reason', text: it.reason || '' }),
      el('td', { text: fmtTime(it.started_at) }),
      el('td', { text: fmtTime(it.finished_at) }),
      el('td', { class: 'actions' }, el('button', {
        class: 'small', test: 'item-log-toggle', text: open ? 'Hide log' : 'Log', disabled: !it.log,
        on: { click: () => { if (open) expanded.delete(key); else expanded.add(key); redraw(); } },
      }))));
    if (open) append(body, el('tr', { class: 'log-row' }, el('td', { colspan: cols.length }, el('pre', { class: 'log', test: 'item-log', text: it.log || '' }))));
  }
  if (!items.length) append(body, el('tr', {}, el('td', { class: 'empty', colspan: cols.length, text: 'No items.' })));
  return el('div', { class: 'table-wrap' },
    el('table', { class: 'grid', test: 'run-items' }, el('thead', {}, el('tr', {}, cols.map((c) => el('th', { text: c })))), body));
}
