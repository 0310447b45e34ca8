// table.js: tables. dataTable() renders a sortable, filterable table from
// column specs; liveTable() redraws one in place when it is re-sorted or
// filtered; filterBox() is its filter input; genericTable() shows arbitrary
// objects, one column per scalar field; compare() is the sort order.

import { state } from './state.js';
import { el, append } from './dom.js';
import { fmtTime, scalarText } from './format.js';

// A sortable, filterable table.
//   id: a stable name (keeps sort and filter across refreshes)
//   columns: [{key, label, value(row) -> sort/filter value, render(row) -> Node|string, num, sortable}]
//   rows, rowTest, rowData(row) -> dataset, rowClass(row), empty
export function dataTable({ id, columns, rows, rowTest, rowData, rowClass, empty, filterText }) {
  const sort = state.sort[id];
  const filter = (filterText !== undefined ? filterText : state.filters[id] || '').trim().toLowerCase();
  let shown = rows;
  if (filter) {
    shown = rows.filter((row) => columns.some((c) => c.value && scalarText(c.value(row)).toLowerCase().includes(filter)));
  }
  if (sort) {
    const col = columns.find((c) => c.key === sort.key);
    if (col && col.value) shown = [...shown].sort((a, b) => compare(col.value(a), col.value(b)) * (sort.dir === 'desc' ? -1 : 1));
  }
  const head = el('tr', {}, columns.map((c) => headerCell(id, c, sort)));
  const body = el('tbody', {});
  if (!shown.length) {
    append(body, el('tr', {}, el('td', { class: 'empty', colspan: columns.length, test: `${id}-empty`, text: empty || 'Nothing here.' })));
  }
  for (const row of shown) {
    append(body, el('tr', { test: rowTest || `${id}-row`, data: rowData ? rowData(row) : undefined, class: rowClass ? rowClass(row) : undefined },
      columns.map((c) => el('td', { class: [c.num ? 'num' : '', c.cls || ''].join(' ').trim() || undefined, data: { col: c.key } },
        c.render ? c.render(row) : scalarText(c.value ? c.value(row) : '')))));
  }
  return el('div', { class: 'table-wrap' },
    el('table', { class: 'grid', test: `${id}-table`, data: { rows: shown.length } }, el('thead', {}, head), body));
}

function headerCell(id, col, sort) {
  const sortable = col.sortable !== false && col.value;
  const th = el('th', {
    class: [sortable ? 'sortable' : '', col.num ? 'num' : '', col.cls || ''].join(' ').trim() || undefined,
    test: sortable ? `sort-${col.key}` : `col-${col.key}`,
    title: sortable ? 'Sort' : undefined,
  }, col.header ? col.header() : col.label);
  if (sortable) {
    const active = sort && sort.key === col.key;
    if (active) {
      th.dataset.sort = sort.dir;
      th.setAttribute('aria-sort', sort.dir === 'asc' ? 'ascending' : 'descending');
      append(th, [el('span', { class: 'arrow', test: 'sort-arrow', text: sort.dir === 'asc' ? '▲' : '▼' })]);
    }
    th.addEventListener('click', () => {
      const cur = state.sort[id];
      state.sort[id] = { key: col.key, dir: cur && cur.key === col.key && cur.dir === 'asc' ? 'desc' : 'asc' };
      document.dispatchEvent(new CustomEvent('dormant:resort', { detail: id }));
    });
  }
  return th;
}

export function compare(a, b) {
  const na = a === null || a === undefined || a === '';
  const nb = b === null || b === undefined || b === '';
  if (na || nb) return na && nb ? 0 : na ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return scalarText(a).localeCompare(scalarText(b), undefined, { numeric: true, sensitivity: 'base' });
}

// A table that re-renders itself on sort and on filter changes.
export function liveTable(container, spec) {
  const draw = () => {
    const fresh = dataTable(spec());
    if (container.firstChild) container.replaceChild(fresh, container.firstChild);
    else container.appendChild(fresh);
  };
  const onResort = (ev) => {
    if (!container.isConnected) { document.removeEventListener('dormant:resort', onResort); return; }
    if (ev.detail === spec().id) draw();
  };
  document.addEventListener('dormant:resort', onResort);
  draw();
  return draw;
}

export function filterBox(id, onChange, placeholder) {
  return el('input', {
    type: 'text', test: `${id}-filter`, placeholder: placeholder || 'Filter…', value: state.filters[id] || '',
    'aria-label': 'Filter rows',
    on: { input: (ev) => { state.filters[id] = ev.target.value; onChange(); } },
  });
}

// A table of arbitrary objects: one column per scalar field seen.
export function genericTable(id, rows, empty) {
  const keys = [];
  for (const row of rows) {
    for (const [k, v] of Object.entries(row || {})) {
      if (!keys.includes(k) && (v === null || typeof v !== 'object' || (Array.isArray(v) && v.every((x) => typeof x !== 'object')))) keys.push(k);
    }
  }
  return dataTable({
    id, rows, empty,
    columns: keys.map((k) => ({
      key: k, label: k.replace(/_/g, ' '), num: rows.every((r) => r[k] === null || r[k] === undefined || typeof r[k] === 'number'),
      value: (r) => r[k],
      render: (r) => (/(_at|^started|^finished)$/.test(k) ? fmtTime(r[k]) : scalarText(r[k])),
    })),
  });
}
