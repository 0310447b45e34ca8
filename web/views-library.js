// views-library.js: the Library view (#/library): the catalog's images with
// their compliance, the selection (also the preselected targets of New job),
// and the Assess selected / Assess all / Identify operations.

import { state } from './state.js';
import { append, complianceBadge, el, stateBadge } from './dom.js';
import { baseName, fmtTime, scalarText } from './format.js';
import { ApiError, api } from './api.js';
import { guarded, showError } from './banner.js';
import { current, viewRoot } from './view.js';
import { filterBox, liveTable } from './table.js';
import { followOperation } from './operations.js';

export async function viewLibrary() {
  const gen = state.viewGen;
  const root = viewRoot();
  const opPanel = el('div', { hidden: true });
  const tableBox = el('div', {});
  const count = el('span', { class: 'count', test: 'library-count' });
  const stateSel = el('select', { test: 'library-state-filter', 'aria-label': 'Compliance state' },
    [['', 'all states'], ['compliant', 'compliant'], ['updates-pending', 'updates pending'],
      ['security-updates-pending', 'security updates pending'], ['unknown', 'unknown'], ['unassessed', 'unassessed']]
      .map(([v, t]) => el('option', { value: v, text: t })));
  stateSel.value = state.filters['library-state'] || '';
  let images = [];
  let redraw = () => {};

  const assessBtn = el('button', { class: 'primary', test: 'assess-selected', text: 'Assess selected', disabled: true });
  const assessAllBtn = el('button', { test: 'assess-all', text: 'Assess all' });
  const identifyBtn = el('button', { test: 'identify', text: 'Identify' });
  const refreshBtn = el('button', { test: 'refresh', text: 'Refresh' });

  const updateButtons = () => {
    const n = [...state.selected].filter((id) => images.some((i) => i.id === id)).length;
    assessBtn.disabled = n === 0;
    assessBtn.textContent = n ? `Assess selected (${n})` : 'Assess selected';
  };

  const load = async () => {
    const st = stateSel.value;
    images = await api('GET', `/images${st ? `?state=${encodeURIComponent(st)}` : ''}`);
    if (!current(gen)) return;
    redraw();
  };

  const runOperation = async (path, body, buttons) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const op = await api('POST', path, body);
      const done = await followOperation(opPanel, op, gen);
      if (done.state === 'failed') showError(new ApiError(0, (done.error && done.error.kind) || 'failed', (done.error && done.error.message) || `${done.kind} failed`));
      if (current(gen)) await load();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      updateButtons();
    }
  };

  const all = [assessBtn, assessAllBtn, identifyBtn];
  assessBtn.addEventListener('click', () => guarded(() => {
    const ids = images.filter((i) => state.selected.has(i.id)).map((i) => i.id);
    if (!ids.length) throw new ApiError(0, 'usage', 'select at least one image');
    return runOperation('/assessments', { images: images.filter((i) => ids.includes(i.id)).map((i) => i.path) }, all);
  }));
  assessAllBtn.addEventListener('click', () => guarded(() => runOperation('/assessments', { all: true }, all)));
  identifyBtn.addEventListener('click', () => guarded(() => runOperation('/identify', {}, all)));
  refreshBtn.addEventListener('click', () => guarded(load));
  stateSel.addEventListener('change', () => { state.filters['library-state'] = stateSel.value; guarded(load); });

  const filter = filterBox('library', () => redraw(), 'Filter by any column…');
  append(root, [
    el('h2', { text: 'Library' }),
    el('div', { class: 'toolbar' }, filter, stateSel, count, el('span', { class: 'spacer' }),
      assessBtn, assessAllBtn, identifyBtn, refreshBtn),
    opPanel,
    tableBox,
  ]);

  redraw = liveTable(tableBox, () => librarySpec(images, updateButtons, () => redraw()));
  const origRedraw = redraw;
  redraw = () => {
    origRedraw();
    const shown = tableBox.querySelector('table').dataset.rows;
    count.textContent = `${shown} of ${images.length} image(s)`;
    updateButtons();
  };
  await load();
}

function librarySpec(images, onSelect, redraw) {
  const selectAll = () => {
    const table = document.querySelector('[data-test="library-table"]');
    const visible = table ? [...table.querySelectorAll('tr[data-test="library-row"]')].map((r) => Number(r.dataset.id)) : [];
    const allOn = visible.length && visible.every((id) => state.selected.has(id));
    for (const id of visible) { if (allOn) state.selected.delete(id); else state.selected.add(id); }
    redraw();
  };
  return {
    id: 'library',
    rows: images,
    rowData: (img) => ({ id: img.id, path: img.path }),
    rowClass: (img) => (state.selected.has(img.id) ? 'selected' : undefined),
    empty: 'No images: add a library (dormant library add DIR) and press Identify.',
    columns: [
      {
        key: 'select', cls: 'check', sortable: false,
        header: () => el('input', { type: 'checkbox', test: 'select-all', title: 'Select all shown', 'aria-label': 'Select all', on: { click: selectAll } }),
        render: (img) => el('input', {
          type: 'checkbox', test: 'select-image', checked: state.selected.has(img.id), 'aria-label': `Select ${baseName(img.path)}`,
          on: {
            change: (ev) => {
              if (ev.target.checked) state.selected.add(img.id); else state.selected.delete(img.id);
              ev.target.closest('tr').classList.toggle('selected', ev.target.checked);
              onSelect();
            },
          },
        }),
      },
      {
        key: 'path', label: 'Image', value: (img) => baseName(img.path),
        render: (img) => [
          el('a', { href: `#/images/${img.id}`, class: 'rowlink', test: 'image-link', title: img.path, text: baseName(img.path) }),
          el('span', { class: 'sub', text: img.path }),
        ],
      },
      { key: 'domain', label: 'Domain', value: (img) => img.domain || '' },
      { key: 'os', label: 'OS', value: (img) => (img.os && (img.os.pretty_name || img.os.id)) || '' },
      { key: 'state', label: 'State', value: (img) => img.state || '', render: (img) => stateBadge(img.state, 'image-state') },
      { key: 'compliance', label: 'Compliance', value: (img) => (img.compliance ? img.compliance.state : 'unassessed'), render: (img) => complianceBadge(img.compliance) },
      { key: 'updates', label: 'Updates', num: true, value: (img) => (img.compliance ? img.compliance.updates : null), render: (img) => el('span', { test: 'updates', text: img.compliance ? scalarText(img.compliance.updates) : '' }) },
      { key: 'security', label: 'Security', num: true, value: (img) => (img.compliance ? img.compliance.security_updates : null), render: (img) => el('span', { test: 'security-updates', text: img.compliance ? scalarText(img.compliance.security_updates) : '' }) },
      { key: 'assessed', label: 'Assessed', value: (img) => (img.compliance ? img.compliance.assessed_at : ''), render: (img) => fmtTime(img.compliance && img.compliance.assessed_at) },
      { key: 'groups', label: 'Groups', value: (img) => (img.groups || []).join(', ') },
    ],
  };
}
