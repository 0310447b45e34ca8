// shell.js: the layout once signed in: the header (product, catalog path,
// version, Sign out), the navigation, the error banner and the view container.

import { state } from './state.js';
import { el, append, clear, icon } from './dom.js';

const NAV = [
  { route: 'library', label: 'Library', icon: 'library' },
  { route: 'groups', label: 'VM groups', icon: 'groups' },
  { route: 'hosts', label: 'Maintenance hosts', icon: 'hosts' },
  { route: 'sources', label: 'Update sources', icon: 'sources' },
  { route: 'jobs', label: 'Jobs', icon: 'jobs' },
  { route: 'reports', label: 'Reports', icon: 'reports' },
];

// Builds the layout; Sign out calls onSignOut().
export function renderShell(onSignOut) {
  const root = clear(document.getElementById('app'));
  const health = state.health || {};
  const nav = el('nav', { class: 'nav', test: 'nav', 'aria-label': 'Navigation' },
    NAV.map((n) => el('a', { href: `#/${n.route}`, test: `nav-${n.route}`, data: { route: n.route } },
      icon(n.icon), n.label)));
  append(root, el('div', { class: 'shell', test: 'shell' },
    el('header', { class: 'header', test: 'header' },
      el('span', { class: 'product', test: 'product' }, icon('logo'), 'dormant'),
      el('span', { class: 'catalog', test: 'catalog-path', title: health.catalog || '', text: health.catalog || '' }),
      el('span', { class: 'version', test: 'version', text: health.version ? `v${health.version}` : '' }),
      el('button', { test: 'signout', title: 'Sign out', on: { click: () => onSignOut() } }, 'Sign out')),
    nav,
    el('main', { class: 'main', id: 'main' },
      el('div', { class: 'banner', test: 'error-banner', role: 'alert', hidden: true }),
      el('div', { id: 'view', test: 'view' }))));
}

export function setActiveNav(section) {
  for (const a of document.querySelectorAll('.nav a')) {
    a.classList.toggle('active', a.dataset.route === section);
  }
}
