// views-groups.js: the VM groups views: the list with its create form
// (#/groups) and one group's members (#/groups/NAME).

import { state } from './state.js';
import { append, el, stateBadge } from './dom.js';
import { baseName } from './format.js';
import { ApiError, api, checkName } from './api.js';
import { guarded } from './banner.js';
import { current, refreshView, viewRoot } from './view.js';
import { dataTable, filterBox, liveTable } from './table.js';

export async function viewGroups() {
  const gen = state.viewGen;
  const root = viewRoot();
  const tableBox = el('div', {});
  let groups = [];
  const name = el('input', { type: 'text', test: 'group-name', placeholder: 'name', 'aria-label': 'Group name' });
  const match = el('input', { type: 'text', test: 'group-match', placeholder: 'glob, e.g. *web*', 'aria-label': 'Glob' });
  const form = el('form', { class: 'inline-form panel', test: 'group-form', novalidate: true },
    el('strong', { text: 'New group' }), name, match,
    el('button', { type: 'submit', class: 'primary', test: 'group-create', text: 'Create' }));
  let redraw = () => {};
  const load = async () => {
    groups = await api('GET', '/groups');
    if (current(gen)) redraw();
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    guarded(async () => {
      if (!name.value.trim()) throw new ApiError(0, 'usage', 'a group needs a name');
      const body = { name: checkName(name.value.trim(), 'group') };
      if (match.value.trim()) body.match = match.value.trim();
      await api('POST', '/groups', body);
      name.value = '';
      match.value = '';
      await load();
    });
  });
  append(root, [
    el('h2', { text: 'VM groups' }),
    form,
    el('div', { class: 'toolbar' }, filterBox('groups', () => redraw())),
    tableBox,
  ]);
  redraw = liveTable(tableBox, () => ({
    id: 'groups', rows: groups, rowData: (g) => ({ name: g.name }), empty: 'No groups.',
    columns: [
      { key: 'name', label: 'Name', value: (g) => g.name, render: (g) => el('a', { class: 'rowlink', href: `#/groups/${encodeURIComponent(g.name)}`, text: g.name }) },
      { key: 'match', label: 'Glob', value: (g) => g.match || '', render: (g) => el('span', { class: 'mono', text: g.match || '' }) },
      { key: 'members', label: 'Members', num: true, value: (g) => (Array.isArray(g.members) ? g.members.length : g.members) },
      {
        key: 'actions', label: '', sortable: false, cls: 'actions',
        render: (g) => el('button', {
          class: 'small danger', test: 'group-delete', text: 'Delete',
          on: { click: () => guarded(async () => { if (!confirm(`Delete group ${g.name}?`)) return; await api('DELETE', `/groups/${encodeURIComponent(g.name)}`); await load(); }) },
        }),
      },
    ],
  }));
  await load();
}

export async function viewGroup(name) {
  const gen = state.viewGen;
  const group = await api('GET', `/groups/${encodeURIComponent(name)}`);
  if (!current(gen)) return;
  const root = viewRoot();
  const members = Array.isArray(group.members) ? group.members : (Array.isArray(group.images) ? group.images : []);
  const add = el('input', { type: 'text', test: 'group-add-images', placeholder: 'image paths or ids, separated by spaces', 'aria-label': 'Images to add' });
  const form = el('form', { class: 'inline-form panel', novalidate: true },
    el('strong', { text: 'Add images' }), add, el('button', { type: 'submit', class: 'primary', test: 'group-add', text: 'Add' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    guarded(async () => {
      const images = add.value.split(/\s+/).filter(Boolean);
      if (!images.length) throw new ApiError(0, 'usage', 'name at least one image');
      await api('POST', `/groups/${encodeURIComponent(name)}/members`, { images });
      refreshView();
    });
  });
  append(root, [
    el('div', { class: 'crumbs' }, el('a', { href: '#/groups', text: 'VM groups' }), ' / ', group.name),
    el('h2', { test: 'group-title', text: `Group ${group.name}` }),
    el('p', { class: 'muted' }, 'Glob: ', el('span', { class: 'mono', text: group.match || '(none)' })),
    form,
    dataTable({
      id: 'members', rows: members, rowData: (m) => ({ id: m.id }), empty: 'No members.',
      columns: [
        { key: 'path', label: 'Image', value: (m) => baseName(m.path), render: (m) => [el('a', { class: 'rowlink', href: `#/images/${m.id}`, title: m.path, text: baseName(m.path) }), el('span', { class: 'sub', text: m.path })] },
        { key: 'os', label: 'OS', value: (m) => (m.os && (m.os.pretty_name || m.os.id)) || '' },
        { key: 'state', label: 'State', value: (m) => m.state || '', render: (m) => stateBadge(m.state) },
        { key: 'explicit', label: 'How', value: (m) => (m.explicit ? 'added' : 'match') },
      ],
    }),
  ]);
}
