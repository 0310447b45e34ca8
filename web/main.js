// main.js: the entry point of the dormant web console, loaded by index.html
// as an ES module. It holds the router (location.hash -> view), signing in
// and out, and the start.
//
// The console is a single-page app over the REST API of `dormant serve`
// (docs/api.md): vanilla ES2020 modules, no build step, no external URL.
// Every piece of data is rendered with textContent / createElement (never
// innerHTML): image paths and package names come from hostile guests.

import { state, TOKEN_KEY } from './state.js';
import { api, onUnauthorized } from './api.js';
import { guarded, hideError } from './banner.js';
import { setRouter, stopTimers } from './view.js';
import { renderSignIn } from './signin.js';
import { renderShell, setActiveNav } from './shell.js';
import { viewLibrary } from './views-library.js';
import { viewImage } from './views-image.js';
import { viewGroups, viewGroup } from './views-groups.js';
import { viewHosts } from './views-hosts.js';
import { viewSources } from './views-sources.js';
import { viewJobs } from './views-jobs.js';
import { viewNewJob } from './views-new-job.js';
import { viewRun } from './views-runs.js';
import { viewReports } from './views-reports.js';

// [hash pattern, navigation section, render(match)]
const ROUTES = [
  [/^#\/library$/, 'library', () => viewLibrary()],
  [/^#\/images\/(\d+)$/, 'library', (m) => viewImage(m[1])],
  [/^#\/groups$/, 'groups', () => viewGroups()],
  [/^#\/groups\/(.+)$/, 'groups', (m) => viewGroup(decodeURIComponent(m[1]))],
  [/^#\/hosts$/, 'hosts', () => viewHosts()],
  [/^#\/sources$/, 'sources', () => viewSources()],
  [/^#\/jobs$/, 'jobs', () => viewJobs()],
  [/^#\/jobs\/new$/, 'jobs', () => viewNewJob()],
  [/^#\/runs\/(\d+)$/, 'jobs', (m) => viewRun(m[1])],
  [/^#\/reports$/, 'reports', () => viewReports()],
];

// Renders the view of location.hash (the sign-in page without a token).
function route() {
  if (!state.token) { renderSignIn('', signedIn); return; }
  if (!document.getElementById('view')) renderShell(() => signOut('signed out'));
  stopTimers();
  state.viewGen++;
  hideError();
  const hash = location.hash || '#/library';
  for (const [re, section, fn] of ROUTES) {
    const m = hash.match(re);
    if (m) {
      setActiveNav(section);
      guarded(() => fn(m));
      return;
    }
  }
  location.hash = '#/library';
}

function signedIn() {
  renderShell(() => signOut('signed out'));
  route();
}

function signOut(message) {
  state.token = '';
  state.health = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopTimers();
  state.viewGen++;
  renderSignIn(message || '', signedIn);
}

async function start() {
  setRouter(route);
  onUnauthorized(signOut);
  window.addEventListener('hashchange', route);
  if (!state.token) { renderSignIn('', signedIn); return; }
  try {
    state.health = await api('GET', '/health', undefined, { signIn: true });
  } catch (err) {
    signOut(err.status === 401 ? 'invalid token' : err.message);
    return;
  }
  signedIn();
}

start();
