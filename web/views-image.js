// views-image.js: an image's detail view (#/images/ID): inspection facts and
// record, assessment history, the pending changes of the latest assessment,
// and the patch history.

import { state } from './state.js';
import { append, complianceBadge, el } from './dom.js';
import { baseName, fmtBytes, fmtTime, scalarText } from './format.js';
import { api } from './api.js';
import { current, viewRoot } from './view.js';
import { compare, dataTable, genericTable } from './table.js';

export async function viewImage(id) {
  const gen = state.viewGen;
  const img = await api('GET', `/images/${encodeURIComponent(id)}`);
  if (!current(gen)) return;
  const root = viewRoot();
  const facts = [
    ['Path', img.path], ['Format', img.format], ['Library', img.library], ['Domain', img.domain],
    ['State', img.state], ['Reason', img.reason], ['OS', img.os && (img.os.pretty_name || img.os.id)],
    ['Architecture', img.arch], ['Hostname', img.hostname], ['Packages', img.package_count],
    ['Kernels', img.kernels], ['Virtual size', fmtBytes(img.virtual_size)], ['File size', fmtBytes(img.file_size)],
    ['Access', img.access], ['Inspected at', fmtTime(img.inspected_at)], ['Groups', img.groups],
    ['Compliance', img.compliance ? img.compliance.state : 'unassessed'],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  const assessments = Array.isArray(img.assessments) ? img.assessments : [];
  const patches = Array.isArray(img.patches) ? img.patches : [];
  append(root, [
    el('div', { class: 'crumbs' }, el('a', { href: '#/library', text: 'Library' }), ' / ', baseName(img.path)),
    el('h2', { test: 'image-title', title: img.path, text: baseName(img.path) }),
    el('div', { class: 'panel' }, el('dl', { class: 'kv', test: 'image-facts' },
      facts.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: scalarText(v) })]))),
    img.inspection ? el('details', { class: 'panel', test: 'image-inspection' },
      el('summary', { text: 'Inspection record (JSON)' }),
      el('pre', { class: 'log', text: JSON.stringify(img.inspection, null, 2) })) : null,
    el('h3', { text: 'Assessment history' }),
    dataTable({
      id: 'assessments', rows: assessments, empty: 'Never assessed.',
      columns: [
        { key: 'assessed_at', label: 'Assessed', value: (a) => a.assessed_at || (a.result && a.result.assessed_at), render: (a) => fmtTime(a.assessed_at || (a.result && a.result.assessed_at)) },
        { key: 'state', label: 'State', value: (a) => assessmentState(a), render: (a) => complianceBadge({ state: assessmentState(a), reason: a.reason }) },
        { key: 'updates', label: 'Updates', num: true, value: (a) => updatesOf(a).length },
        { key: 'security', label: 'Security', num: true, value: (a) => updatesOf(a).filter((u) => u.security).length },
        { key: 'reason', label: 'Reason', value: (a) => a.reason || (a.result && a.result.reason) || '' },
      ],
    }),
    latestUpdates(assessments),
    el('h3', { text: 'Patch history' }),
    genericTable('patches', patches, 'Never patched.'),
  ]);
}

function assessmentState(a) {
  return a.state || (a.result && a.result.state) || '';
}

function updatesOf(a) {
  const r = a.result || a;
  return Array.isArray(r.updates) ? r.updates : [];
}

function latestUpdates(assessments) {
  if (!assessments.length) return null;
  const newest = [...assessments].sort((a, b) => compare(b.assessed_at, a.assessed_at))[0];
  const r = newest.result || newest;
  const rows = [...updatesOf(newest), ...(Array.isArray(r.new_packages) ? r.new_packages.map((p) => ({ ...p, action: 'install' })) : []),
    ...(Array.isArray(r.removed_packages) ? r.removed_packages.map((p) => ({ ...p, action: 'remove' })) : [])];
  return [
    el('h3', { text: 'Pending changes (latest assessment)' }),
    dataTable({
      id: 'updates', rows, empty: 'Nothing pending.',
      columns: [
        { key: 'name', label: 'Package', value: (u) => u.name, render: (u) => el('span', { class: 'mono', text: u.name || '' }) },
        { key: 'action', label: 'Action', value: (u) => u.action || '' },
        { key: 'installed', label: 'Installed', value: (u) => u.installed || '', render: (u) => el('span', { class: 'mono', text: u.installed || '' }) },
        { key: 'candidate', label: 'Candidate', value: (u) => u.candidate || '', render: (u) => el('span', { class: 'mono', text: u.candidate || '' }) },
        { key: 'security', label: 'Security', value: (u) => (u.security ? 'security' : ''), render: (u) => (u.security ? el('span', { class: 'badge security', text: 'security' }) : '') },
        { key: 'source', label: 'Source', value: (u) => u.source || '' },
        { key: 'cves', label: 'CVEs', value: (u) => (u.cves || []).join(' ') },
      ],
    }),
  ];
}
