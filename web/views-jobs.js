// views-jobs.js: the Jobs view (#/jobs): the jobs with Run now and Delete,
// and the most recent runs, polled while one is running.

import { state } from './state.js';
import { append, el, stateBadge } from './dom.js';
import { baseName, fmtTime, scalarText } from './format.js';
import { ApiError, api } from './api.js';
import { guarded } from './banner.js';
import { current, poll, viewRoot } from './view.js';
import { filterBox, liveTable } from './table.js';

function targetsText(t) {
  if (!t) return '';
  if (t.all) return 'all images';
  if (t.group) return `group ${t.group}`;
  if (Array.isArray(t.images)) return t.images.map(baseName).join(', ');
  if (Array.isArray(t)) return t.map(baseName).join(', ');
  return scalarText(t);
}

function lastRunOf(job) {
  const r = job.last_run;
  if (!r) return null;
  return typeof r === 'object' ? r : { state: String(r) };
}

export async function viewJobs() {
  const gen = state.viewGen;
  const root = viewRoot();
  const jobsBox = el('div', {});
  const runsBox = el('div', {});
  let jobs = [];
  let runs = [];
  let redrawJobs = () => {};
  let redrawRuns = () => {};
  const load = async () => {
    const [j, r] = await Promise.all([api('GET', '/jobs'), api('GET', '/runs?limit=20')]);
    if (!current(gen)) return false;
    jobs = j || [];
    runs = r || [];
    redrawJobs();
    redrawRuns();
    return runs.some((x) => x.state === 'running');
  };
  append(root, [
    el('h2', { text: 'Jobs' }),
    el('div', { class: 'toolbar' }, filterBox('jobs', () => redrawJobs()), el('span', { class: 'spacer' }),
      el('button', { class: 'primary', test: 'new-job', text: 'New job', on: { click: () => { location.hash = '#/jobs/new'; } } })),
    jobsBox,
    el('h3', { text: 'Recent runs' }),
    runsBox,
  ]);
  redrawJobs = liveTable(jobsBox, () => ({
    id: 'jobs', rows: jobs, rowData: (j) => ({ name: j.name }), empty: 'No jobs: press New job.',
    columns: [
      { key: 'name', label: 'Name', value: (j) => j.name, render: (j) => el('strong', { text: j.name }) },
      { key: 'mode', label: 'Mode', value: (j) => j.mode + (j.hosts ? ` on ${j.hosts}` : '') },
      { key: 'targets', label: 'Targets', value: (j) => targetsText(j.targets) },
      { key: 'limits', label: 'At once / errors', value: (j) => `${j.max_concurrent ?? ''} / ${j.max_errors ?? ''}` },
      { key: 'schedule', label: 'Schedule', value: (j) => j.schedule || '', render: (j) => el('span', { class: 'mono', text: j.schedule || '' }) },
      { key: 'window', label: 'Window', value: (j) => j.window || '' },
      { key: 'next', label: 'Next fire', value: (j) => (j.next_fire && j.next_fire !== '-' ? j.next_fire : '') },
      {
        key: 'last', label: 'Last run', value: (j) => { const r = lastRunOf(j); return r ? r.state : ''; },
        render: (j) => { const r = lastRunOf(j); if (!r) return ''; const b = stateBadge(r.state, 'job-last-state'); return r.id ? el('a', { href: `#/runs/${r.id}`, title: `run ${r.id}` }, b) : b; },
      },
      {
        key: 'actions', label: '', sortable: false, cls: 'actions',
        render: (j) => [
          el('button', { class: 'small primary', test: 'run-now', text: 'Run now', on: { click: (ev) => guarded(() => runNow(j.name, ev.target)) } }),
          el('button', {
            class: 'small danger', test: 'job-delete', text: 'Delete',
            on: { click: () => guarded(async () => { if (!confirm(`Delete job ${j.name} and its runs?`)) return; await api('DELETE', `/jobs/${encodeURIComponent(j.name)}`); await load(); }) },
          }),
        ],
      },
    ],
  }));
  redrawRuns = liveTable(runsBox, () => runsSpec(runs));
  const running = await load();
  if (running) poll(gen, load);
}

function runsSpec(runs) {
  return {
    id: 'runs', rows: runs, rowData: (r) => ({ id: r.id }), empty: 'No runs yet.',
    columns: [
      { key: 'id', label: 'Run', num: true, value: (r) => r.id, render: (r) => el('a', { class: 'rowlink', test: 'run-link', href: `#/runs/${r.id}`, text: `#${r.id}` }) },
      { key: 'job', label: 'Job', value: (r) => r.job },
      { key: 'trigger', label: 'Trigger', value: (r) => r.trigger || '' },
      { key: 'started', label: 'Started', value: (r) => r.started_at || '', render: (r) => fmtTime(r.started_at) },
      { key: 'finished', label: 'Finished', value: (r) => r.finished_at || '', render: (r) => fmtTime(r.finished_at) },
      { key: 'state', label: 'State', value: (r) => r.state, render: (r) => stateBadge(r.state, 'run-row-state') },
      { key: 'done', label: 'Done', num: true, value: (r) => r.done },
      { key: 'failed', label: 'Failed', num: true, value: (r) => r.failed },
      { key: 'reason', label: 'Reason', value: (r) => r.stop_reason || '' },
    ],
  };
}

// The newest run of a job, or null.
async function newestRun(name) {
  const runs = await api('GET', `/runs?job=${encodeURIComponent(name)}&limit=1`);
  return Array.isArray(runs) && runs.length ? runs[0] : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runNow(name, button) {
  if (button) button.disabled = true;
  try {
    const before = await newestRun(name);
    const started = await api('POST', `/jobs/${encodeURIComponent(name)}/runs`, { now: true });
    const idOf = (r) => (r === null || r === undefined ? null : typeof r === 'object' ? r.id : r);
    let runId = idOf(started && started.run);
    const op = started && started.operation;
    const opId = op && typeof op === 'object' ? op.id : op;
    // The server answers with the run once the runner has recorded it; if
    // it could not tell which run that is, ask the operation, then the
    // job's newest run (a run newer than the one before the click).
    for (let i = 0; (runId === null || runId === undefined) && i < 40; i++) {
      const o = opId !== undefined && opId !== null ? await api('GET', `/operations/${encodeURIComponent(opId)}`) : null;
      if (o && o.job_run !== null && o.job_run !== undefined) { runId = o.job_run; break; }
      const newest = await newestRun(name);
      if (newest && (!before || newest.id > before.id)) { runId = newest.id; break; }
      if (o && o.state !== 'running') {
        throw new ApiError(0, (o.error && o.error.kind) || 'failed', (o.error && o.error.message) || 'the run did not start');
      }
      await sleep(500);
    }
    if (runId === null || runId === undefined) throw new ApiError(0, 'internal', 'the server did not say which run was started');
    location.hash = `#/runs/${runId}`;
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}
