// views-sources.js: the Update sources view (#/sources): the apt sources
// (unsigned ones flagged), the add form and Remove.

import { state } from './state.js';
import { append, el } from './dom.js';
import { ApiError, api, checkName } from './api.js';
import { guarded } from './banner.js';
import { current, viewRoot } from './view.js';
import { filterBox, liveTable } from './table.js';
import { formPanel } from './forms.js';

export async function viewSources() {
  const gen = state.viewGen;
  const root = viewRoot();
  const tableBox = el('div', {});
  let sources = [];
  let redraw = () => {};
  const load = async () => {
    sources = await api('GET', '/sources');
    if (current(gen)) redraw();
  };
  const f = {
    name: el('input', { type: 'text', test: 'source-name', placeholder: 'debian-security' }),
    uri: el('input', { type: 'text', test: 'source-uri', placeholder: 'http://deb.example.org/debian-security' }),
    suite: el('input', { type: 'text', test: 'source-suite', placeholder: 'bookworm-security' }),
    components: el('input', { type: 'text', test: 'source-components', placeholder: 'main (space separated)' }),
    keyring: el('input', { type: 'text', test: 'source-keyring', placeholder: '/usr/share/keyrings/debian-archive-keyring.gpg' }),
    security: el('input', { type: 'checkbox', test: 'source-security' }),
    unsigned: el('input', { type: 'checkbox', test: 'source-allow-unsigned' }),
    group: el('input', { type: 'text', test: 'source-group', placeholder: '(all images)' }),
  };
  const form = formPanel('source-form', 'Add an update source', [
    ['Name', f.name], ['URI', f.uri], ['Suite', f.suite], ['Components', f.components],
    ['Keyring', f.keyring, 'a binary keyring on the server, e.g. /usr/share/keyrings/debian-archive-keyring.gpg'],
    ['Security source', f.security], ['Allow unsigned', f.unsigned, 'not recommended: nothing verifies what it serves'],
    ['Only for group', f.group],
  ], 'source-add', 'Add source', async () => {
    if (!f.name.value.trim() || !f.uri.value.trim() || !f.suite.value.trim()) throw new ApiError(0, 'usage', 'a source needs a name, a URI and a suite');
    const body = { name: checkName(f.name.value.trim(), 'source'), uri: f.uri.value.trim(), suite: f.suite.value.trim() };
    const comps = f.components.value.split(/[\s,]+/).filter(Boolean);
    if (comps.length) body.components = comps;
    if (f.keyring.value.trim()) body.keyring = f.keyring.value.trim();
    if (f.security.checked) body.security = true;
    if (f.unsigned.checked) body.allow_unsigned = true;
    if (f.group.value.trim()) body.group = f.group.value.trim();
    await api('POST', '/sources', body);
    for (const k of ['name', 'uri', 'suite', 'components', 'keyring', 'group']) f[k].value = '';
    f.security.checked = false;
    f.unsigned.checked = false;
    await load();
  });
  append(root, [
    el('h2', { text: 'Update sources' }),
    el('div', { class: 'toolbar' }, filterBox('sources', () => redraw())),
    tableBox,
    form,
  ]);
  redraw = liveTable(tableBox, () => ({
    id: 'sources', rows: sources, rowData: (s) => ({ name: s.name }), empty: 'No update sources: assessments need at least one.',
    columns: [
      { key: 'name', label: 'Name', value: (s) => s.name },
      { key: 'uri', label: 'URI', value: (s) => s.uri, render: (s) => el('span', { class: 'mono', text: s.uri || '' }) },
      { key: 'suite', label: 'Suite', value: (s) => s.suite },
      { key: 'components', label: 'Components', value: (s) => (s.components || []).join(' ') },
      { key: 'security', label: 'Security', value: (s) => (s.security ? 'security' : ''), render: (s) => (s.security ? el('span', { class: 'badge security', text: 'security' }) : '') },
      {
        key: 'signed', label: 'Signature', value: (s) => (s.allow_unsigned ? 'UNSIGNED' : 'signed'),
        render: (s) => (s.allow_unsigned
          ? el('span', { class: 'badge unsigned', test: 'source-unsigned', title: 'allow_unsigned: nothing verifies this source', text: 'UNSIGNED' })
          : el('span', { class: 'badge ok', text: 'signed' })),
      },
      { key: 'keyring', label: 'Keyring', value: (s) => s.keyring || '', render: (s) => el('span', { class: 'mono', text: s.keyring || '' }) },
      { key: 'group', label: 'Group', value: (s) => s.group || '' },
      {
        key: 'actions', label: '', sortable: false, cls: 'actions',
        render: (s) => el('button', {
          class: 'small danger', test: 'source-remove', text: 'Remove',
          on: { click: () => guarded(async () => { if (!confirm(`Remove source ${s.name}?`)) return; await api('DELETE', `/sources/${encodeURIComponent(s.name)}`); await load(); }) },
        }),
      },
    ],
  }));
  await load();
}
