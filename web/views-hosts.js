// views-hosts.js: the Maintenance hosts view (#/hosts): the hosts, Probe, the
// add form and Remove. hostOf() reads a host entry (also used by New job).

import { state } from './state.js';
import { append, el } from './dom.js';
import { ApiError, api, checkName } from './api.js';
import { guarded } from './banner.js';
import { current, viewRoot } from './view.js';
import { filterBox, liveTable } from './table.js';
import { formPanel } from './forms.js';

export async function viewHosts() {
  const gen = state.viewGen;
  const root = viewRoot();
  const tableBox = el('div', {});
  let hosts = [];
  let probed = false;
  let redraw = () => {};
  const load = async (probe) => {
    hosts = await api('GET', probe ? '/hosts?probe=1' : '/hosts');
    probed = !!probe;
    if (current(gen)) redraw();
  };
  const f = {
    name: el('input', { type: 'text', test: 'host-name', placeholder: 'maint1' }),
    uri: el('input', { type: 'text', test: 'host-uri', placeholder: 'qemu+ssh://root@maint1/system' }),
    group: el('input', { type: 'text', test: 'host-group', placeholder: 'default' }),
    maxVms: el('input', { type: 'number', test: 'host-max-vms', min: 1, placeholder: '1' }),
    memory: el('input', { type: 'number', test: 'host-memory', min: 128, placeholder: '1024' }),
    pool: el('input', { type: 'text', test: 'host-pool', placeholder: 'default' }),
    check: el('input', { type: 'checkbox', test: 'host-check', checked: true }),
  };
  const probeBtn = el('button', { test: 'hosts-probe', text: 'Probe' });
  probeBtn.addEventListener('click', () => guarded(async () => {
    probeBtn.disabled = true;
    try { await load(true); } finally { probeBtn.disabled = false; }
  }));
  const form = formPanel('host-form', 'Add a maintenance host', [
    ['Name', f.name], ['Libvirt URI', f.uri], ['Host group', f.group], ['Max VMs', f.maxVms],
    ['Memory per VM (MiB)', f.memory], ['Storage pool', f.pool], ['Check connection', f.check],
  ], 'host-add', 'Add host', async () => {
    if (!f.name.value.trim() || !f.uri.value.trim()) throw new ApiError(0, 'usage', 'a host needs a name and a URI');
    if (!f.uri.value.includes('://')) throw new ApiError(0, 'usage', 'the URI must contain :// (e.g. qemu:///system)');
    const body = { name: checkName(f.name.value.trim(), 'host'), uri: f.uri.value.trim() };
    if (f.group.value.trim()) body.group = f.group.value.trim();
    if (f.maxVms.value) body.max_vms = Number(f.maxVms.value);
    if (f.memory.value) body.memory_mib = Number(f.memory.value);
    if (f.pool.value.trim()) body.pool = f.pool.value.trim();
    if (!f.check.checked) body.check = false;
    await api('POST', '/hosts', body);
    for (const k of ['name', 'uri', 'group', 'maxVms', 'memory', 'pool']) f[k].value = '';
    await load(probed);
  });
  append(root, [
    el('h2', { text: 'Maintenance hosts' }),
    el('div', { class: 'toolbar' }, filterBox('hosts', () => redraw()), el('span', { class: 'spacer' }), probeBtn),
    tableBox,
    form,
  ]);
  redraw = liveTable(tableBox, () => hostsSpec(hosts, probed, load));
  await load(false);
}

export function hostOf(h) {
  return h.host && typeof h.host === 'object' ? h.host : h;
}

function probeOf(h) {
  if (h.status && typeof h.status === 'object') return h.status;
  if ('reachable' in h) return h;
  return null;
}

function hostsSpec(hosts, probed, load) {
  const columns = [
    { key: 'name', label: 'Name', value: (h) => hostOf(h).name },
    { key: 'uri', label: 'URI', value: (h) => hostOf(h).uri, render: (h) => el('span', { class: 'mono', text: hostOf(h).uri || '' }) },
    { key: 'group', label: 'Group', value: (h) => hostOf(h).host_group || hostOf(h).group || '' },
    { key: 'max_vms', label: 'Max VMs', num: true, value: (h) => hostOf(h).max_vms },
    { key: 'memory', label: 'MiB / VM', num: true, value: (h) => hostOf(h).memory_mib },
    { key: 'pool', label: 'Pool', value: (h) => hostOf(h).pool || '' },
  ];
  if (probed) {
    columns.push(
      { key: 'reachable', label: 'Reachable', value: (h) => { const p = probeOf(h); return p ? (p.reachable ? 'yes' : 'no') : ''; },
        render: (h) => { const p = probeOf(h); if (!p) return ''; return el('span', { class: `badge ${p.reachable && p.pool_ok !== false ? 'ok' : 'failed'}`, test: 'host-reachable', title: p.error || undefined, text: p.reachable ? (p.pool_ok === false ? 'pool unusable' : 'reachable') : 'unreachable' }); } },
      { key: 'vms', label: 'VMs', value: (h) => { const p = probeOf(h); return p ? `${p.running_vms ?? '?'}/${hostOf(h).max_vms ?? '?'}` : ''; } },
      { key: 'free_mem', label: 'Free mem', num: true, value: (h) => { const p = probeOf(h); return p ? p.free_memory_mib : null; }, render: (h) => { const p = probeOf(h); return p && typeof p.free_memory_mib === 'number' ? `${p.free_memory_mib} MiB` : ''; } },
      { key: 'error', label: 'Problem', value: (h) => { const p = probeOf(h); return (p && p.error) || ''; } },
    );
  }
  columns.push({
    key: 'actions', label: '', sortable: false, cls: 'actions',
    render: (h) => el('button', {
      class: 'small danger', test: 'host-remove', text: 'Remove',
      on: { click: () => guarded(async () => { const n = hostOf(h).name; if (!confirm(`Remove host ${n}? (nothing on the host is touched)`)) return; await api('DELETE', `/hosts/${encodeURIComponent(n)}`); await load(probed); }) },
    }),
  });
  return { id: 'hosts', rows: hosts, rowData: (h) => ({ name: hostOf(h).name }), empty: 'No maintenance hosts.', columns };
}
