// views-reports.js: the Reports view (#/reports): the compliance report's
// summary cards, facts and tables, a group filter, and the CSV / HTML
// downloads.

import { state } from './state.js';
import { append, clear, el } from './dom.js';
import { fmtTime, scalarText } from './format.js';
import { api } from './api.js';
import { guarded } from './banner.js';
import { current, viewRoot } from './view.js';
import { genericTable } from './table.js';

export async function viewReports() {
  const gen = state.viewGen;
  const groups = await api('GET', '/groups').catch(() => []);
  if (!current(gen)) return;
  const root = viewRoot();
  const groupSel = el('select', { test: 'report-group', 'aria-label': 'Group' },
    el('option', { value: '', text: 'all images' }),
    (groups || []).map((g) => el('option', { value: g.name, text: `group ${g.name}` })));
  groupSel.value = state.filters['report-group'] || '';
  const body = el('div', { test: 'report' });
  const query = (format) => `?format=${format}${groupSel.value ? `&group=${encodeURIComponent(groupSel.value)}` : ''}`;
  const load = async () => {
    const report = await api('GET', `/report${query('json')}`);
    if (!current(gen)) return;
    clear(body);
    append(body, renderReport(report || {}));
  };
  groupSel.addEventListener('change', () => { state.filters['report-group'] = groupSel.value; guarded(load); });
  const download = (format, ext) => guarded(async () => {
    const res = await api('GET', `/report${query(format)}`, undefined, { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `dormant-report${groupSel.value ? `-${groupSel.value.replace(/[^\w.-]/g, '_')}` : ''}.${ext}` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  append(root, [
    el('h2', { text: 'Reports' }),
    el('div', { class: 'toolbar' }, groupSel, el('span', { class: 'spacer' }),
      el('button', { test: 'report-csv', text: 'Download CSV', on: { click: () => download('csv', 'csv') } }),
      el('button', { test: 'report-html', text: 'Download HTML', on: { click: () => download('html', 'html') } }),
      el('button', { test: 'refresh', text: 'Refresh', on: { click: () => guarded(load) } })),
    body,
  ]);
  await load();
}

// The report document (docs/report.md), rendered tolerantly: the
// summary's numbers as cards, its other scalars as facts, and every array of
// objects (in the summary or at the top level) as a table.
function renderReport(report) {
  const out = [];
  const meta = ['generated_at', 'group'].filter((k) => report[k] !== undefined && report[k] !== null);
  out.push(el('p', { class: 'muted', test: 'report-meta', text: meta.length ? meta.map((k) => `${k.replace(/_/g, ' ')}: ${fmtTime(scalarText(report[k]))}`).join(' · ') : '' }));
  const summary = report.summary && typeof report.summary === 'object' ? report.summary : null;
  out.push(el('h3', { text: 'Summary' }));
  if (!summary) {
    out.push(el('div', { class: 'panel muted', test: 'report-summary', text: 'The report has no summary.' }));
  } else {
    out.push(el('div', { class: 'cards', test: 'report-summary' }, summaryCards(summary, '')));
    const facts = summaryFacts(summary, '');
    if (facts.length) out.push(el('div', { class: 'panel' }, el('dl', { class: 'kv', test: 'report-facts' }, facts.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]))));
    out.push(...objectTables(summary, 'summary'));
  }
  out.push(...objectTables(report, ''));
  return out;
}

function isObjectArray(v) {
  return Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === 'object' && !Array.isArray(x));
}

function objectTables(obj, prefix) {
  const out = [];
  for (const [key, value] of Object.entries(obj)) {
    if (!isObjectArray(value)) continue;
    const id = `report-${prefix ? `${prefix}-` : ''}${key}`.replace(/[^\w-]/g, '_');
    out.push(el('h3', { text: key.replace(/_/g, ' ') }));
    out.push(el('div', { test: id }, genericTable(id, value, 'None.')));
  }
  return out;
}

// Numeric fields (also in nested objects such as states) as cards.
function summaryCards(summary, prefix) {
  const cards = [];
  for (const [k, v] of Object.entries(summary)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if (Object.values(v).every((x) => typeof x === 'number')) cards.push(...summaryCards(v, key));
    } else if (typeof v === 'number') {
      const bad = /non_compliant|security|pending|unknown/.test(key) && v > 0;
      const good = /(^|\.)compliant$/.test(key);
      cards.push(el('div', { class: `card${bad ? ' bad' : good ? ' good' : ''}`, test: 'report-card', data: { key } },
        el('div', { class: 'value', test: 'report-value', text: String(v) }),
        el('div', { class: 'label', text: key.replace(/\./g, ': ').replace(/_/g, ' ') })));
    }
  }
  return cards;
}

// Non-numeric scalars (and objects of them, e.g. oldest_unpatched) as facts.
function summaryFacts(summary, prefix) {
  const facts = [];
  for (const [k, v] of Object.entries(summary)) {
    const key = (prefix ? `${prefix} ` : '') + k.replace(/_/g, ' ');
    if (v === null && !prefix) facts.push([key, '—']);
    else if (typeof v === 'string' || typeof v === 'boolean') facts.push([key, /(_at|since)$/.test(k) ? fmtTime(v) : String(v)]);
    else if (v && typeof v === 'object' && !Array.isArray(v) && !Object.values(v).every((x) => typeof x === 'number')) facts.push(...summaryFacts(v, key));
  }
  return facts;
}
