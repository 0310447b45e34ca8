// views-new-job.js: the New job form (#/jobs/new) and its POST /jobs body.

import { state } from './state.js';
import { append, el } from './dom.js';
import { ApiError, api } from './api.js';
import { current, viewRoot } from './view.js';
import { formPanel } from './forms.js';
import { hostOf } from './views-hosts.js';

export async function viewNewJob() {
  const gen = state.viewGen;
  const [images, groups, hosts] = await Promise.all([
    api('GET', '/images'), api('GET', '/groups'), api('GET', '/hosts').catch(() => []),
  ]);
  if (!current(gen)) return;
  const root = viewRoot();
  const hostGroups = [...new Set((hosts || []).map((h) => hostOf(h).host_group || hostOf(h).group).filter(Boolean))].sort();
  const f = {
    name: el('input', { type: 'text', test: 'job-name', placeholder: 'nightly', maxlength: 64 }),
    targets: el('select', { test: 'job-targets' },
      el('option', { value: 'images', text: 'selected images' }),
      el('option', { value: 'group', text: 'a group' }),
      el('option', { value: 'all', text: 'all images' })),
    images: el('div', { class: 'checklist', test: 'job-images' },
      images.length ? images.map((img) => el('label', { title: img.path },
        el('input', { type: 'checkbox', test: 'job-image', value: String(img.id), data: { path: img.path }, checked: state.selected.has(img.id) }),
        ' ', img.path)) : el('span', { class: 'muted', text: 'no images in the catalog' })),
    group: el('select', { test: 'job-group' }, groups.map((g) => el('option', { value: g.name, text: g.name }))),
    mode: el('select', { test: 'job-mode' }, el('option', { value: 'offline', text: 'offline' }), el('option', { value: 'service', text: 'service (maintenance host)' })),
    hosts: el('select', { test: 'job-hosts' }, el('option', { value: '', text: '(none)' }), hostGroups.map((g) => el('option', { value: g, text: g }))),
    security: el('input', { type: 'checkbox', test: 'job-security-only' }),
    finalize: el('input', { type: 'checkbox', test: 'job-finalize' }),
    maxConcurrent: el('input', { type: 'text', test: 'job-max-concurrent', placeholder: '1 (a count or a percentage: 25%)' }),
    maxErrors: el('input', { type: 'text', test: 'job-max-errors', placeholder: '0 (a count or a percentage)' }),
    schedule: el('input', { type: 'text', test: 'job-schedule', placeholder: 'cron, UTC: 0 22 * * *  (empty: manual only)' }),
    window: el('input', { type: 'text', test: 'job-window', placeholder: 'HH:MM-HH:MM, UTC (empty: any time)' }),
  };
  if (state.selected.size === 0 && !images.length) f.targets.value = 'all';
  const syncVisibility = () => {
    f.images.closest('.row-images').hidden = f.targets.value !== 'images';
    f.group.closest('.row-group').hidden = f.targets.value !== 'group';
    f.hosts.closest('.row-hosts').hidden = f.mode.value !== 'service';
    f.finalize.closest('.row-finalize').hidden = f.mode.value !== 'offline';
  };
  const form = formPanel('job-form', 'New job', [
    ['Name', f.name, 'letters, digits, ., _, -; not digits only'],
    ['Targets', f.targets],
    ['Images', f.images],
    ['Group', f.group],
    ['Mode', f.mode],
    ['Host group', f.hosts],
    ['Security updates only', f.security],
    ['Boot once to finalize', f.finalize],
    ['Max concurrent', f.maxConcurrent],
    ['Max errors', f.maxErrors],
    ['Schedule', f.schedule],
    ['Window', f.window],
  ], 'job-submit', 'Create job', async () => {
    const body = jobBody(f);
    await api('POST', '/jobs', body);
    location.hash = '#/jobs';
  });
  // Rows that depend on other choices: wrap label + control in classes.
  for (const [key, cls] of [['images', 'row-images'], ['group', 'row-group'], ['hosts', 'row-hosts'], ['finalize', 'row-finalize']]) {
    const control = f[key];
    const label = form.querySelector(`label[for="${control.id}"]`);
    const wrap = el('div', { class: cls, style: undefined });
    wrap.style.display = 'contents';
    control.parentNode.insertBefore(wrap, label);
    wrap.appendChild(label);
    wrap.appendChild(control);
  }
  f.targets.addEventListener('change', syncVisibility);
  f.mode.addEventListener('change', syncVisibility);
  append(root, [
    el('div', { class: 'crumbs' }, el('a', { href: '#/jobs', text: 'Jobs' }), ' / new'),
    form,
  ]);
  syncVisibility();
  f.name.focus();
}

// The POST /jobs body from the form; throws a usage error for what is
// obviously wrong (the server checks everything again).
function jobBody(f) {
  const name = f.name.value.trim();
  if (!name) throw new ApiError(0, 'usage', 'a job needs a name');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) || /^\d+$/.test(name)) {
    throw new ApiError(0, 'usage', `invalid job name '${name}': up to 64 letters, digits, ., _, -, starting with a letter or digit, not digits only`);
  }
  const body = { name, mode: f.mode.value };
  if (f.targets.value === 'images') {
    const picked = [...f.images.querySelectorAll('input[type=checkbox]')].filter((c) => c.checked).map((c) => c.dataset.path);
    if (!picked.length) throw new ApiError(0, 'usage', 'pick at least one image, or target a group or all images');
    body.targets = picked;
  } else if (f.targets.value === 'group') {
    if (!f.group.value) throw new ApiError(0, 'usage', 'there is no group to target: create one under VM groups');
    body.group = f.group.value;
  } else {
    body.all = true;
  }
  if (f.mode.value === 'service') {
    if (!f.hosts.value) throw new ApiError(0, 'usage', 'service mode needs a host group (add a maintenance host first)');
    body.hosts = f.hosts.value;
  } else if (f.finalize.checked) {
    body.finalize = true;
  }
  if (f.security.checked) body.security_only = true;
  const limit = /^\d+%?$/;
  const mc = f.maxConcurrent.value.trim();
  if (mc) {
    if (!limit.test(mc)) throw new ApiError(0, 'usage', 'max concurrent: a count (4) or a percentage (25%)');
    body.max_concurrent = mc;
  }
  const me = f.maxErrors.value.trim();
  if (me) {
    if (!limit.test(me)) throw new ApiError(0, 'usage', 'max errors: a count (0) or a percentage (10%)');
    body.max_errors = me;
  }
  if (f.schedule.value.trim()) body.schedule = f.schedule.value.trim();
  const win = f.window.value.trim();
  if (win) {
    if (!/^\d{1,2}:\d{2}-\d{1,2}:\d{2}$/.test(win)) throw new ApiError(0, 'usage', 'window: HH:MM-HH:MM (UTC)');
    body.window = win;
  }
  return body;
}
