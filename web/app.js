// dormant web console: a single-page app over the REST API of
// `dormant serve` (docs/api.md). Vanilla ES2020, no build step, no external
// URL. Every piece of data is rendered with textContent / createElement (never
// innerHTML): image paths and package names come from hostile guests.
//
// Structure: small DOM helpers, the API client, the shell (sign-in, header,
// navigation, error banner), a router on location.hash, and one render
// function per view.
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'dormant.token';
  const POLL_MS = 1000;

  // ---------------------------------------------------------------- state

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    health: null,
    selected: new Set(),   // image ids selected in the Library (also job targets)
    sort: {},              // table id -> {key, dir}
    filters: {},           // table id -> filter text
    viewGen: 0,            // bumped on every navigation: stale async work stops
    timers: [],            // polling timers of the current view
  };

  // ---------------------------------------------------------------- DOM helpers

  // el('div', {class: 'x', test: 'foo', text: 'hi', on: {click: f}}, child...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key === 'test') node.dataset.test = value;
      else if (key === 'data') Object.assign(node.dataset, value);
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'value') node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  // Appends a node, a string or a (nested) array of them; null/false skipped.
  function append(node, children) {
    const list = Array.isArray(children) ? children.flat(Infinity) : [children];
    for (const child of list) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  // Icons as SVG path data (drawn here, no files).
  const ICONS = {
    logo: 'M4 6h16v9H4z M8 19h8 M12 15v4 M7 9h4 M7 12h7',
    library: 'M3 5h6v14H3z M10 5h5v14h-5z M16 6l4 1-3 13-4-1z',
    groups: 'M3 4h8v7H3z M13 4h8v7h-8z M3 13h8v7H3z M13 13h8v7h-8z',
    hosts: 'M3 4h18v6H3z M3 14h18v6H3z M6 7h2 M6 17h2',
    sources: 'M12 3v12 M7 10l5 5 5-5 M4 19h16',
    jobs: 'M12 3a9 9 0 1 0 0.01 0z M12 7v5l4 2',
    reports: 'M4 20V10 M10 20V4 M16 20v-7 M22 20H2',
    signout: 'M15 4h5v16h-5 M10 8l-4 4 4 4 M6 12h10',
  };

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('fill', 'none');
    svg.setAttribute('stroke', 'currentColor');
    svg.setAttribute('stroke-width', '1.8');
    svg.setAttribute('stroke-linecap', 'round');
    svg.setAttribute('stroke-linejoin', 'round');
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name] || ICONS.logo);
    svg.appendChild(path);
    return svg;
  }

  function baseName(path) {
    const s = String(path || '');
    const i = s.lastIndexOf('/');
    return i >= 0 ? s.slice(i + 1) : s;
  }

  function fmtTime(value) {
    if (!value) return '';
    return String(value).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function fmtBytes(n) {
    if (typeof n !== 'number') return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  function scalarText(value) {
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) return value.map(scalarText).join(', ');
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  // Names (groups, hosts, sources, jobs) may not begin with '-' (docs/api.md).
  function checkName(name, what) {
    if (name.startsWith('-')) throw new ApiError(0, 'usage', `invalid ${what} name '${name}': it may not begin with '-'`);
    return name;
  }

  // ---------------------------------------------------------------- API client

  class ApiError extends Error {
    constructor(status, kind, message) {
      super(message);
      this.status = status;
      this.kind = kind;
    }
  }

  async function api(method, path, body, opts = {}) {
    const headers = { Authorization: `Bearer ${opts.token || state.token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new ApiError(0, 'io', `the server did not answer (${e.message})`);
    }
    if (response.status === 401 && !opts.signIn) {
      signOut('session expired or token refused: sign in again');
      throw new ApiError(401, 'unauthorized', 'invalid token');
    }
    if (!response.ok) throw await errorOf(response);
    if (opts.raw) return response;
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  async function errorOf(response) {
    let kind = 'error';
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) {
        kind = body.error.kind || kind;
        message = body.error.message || message;
      }
    } catch (e) {
      // not JSON: keep the status line
    }
    return new ApiError(response.status, kind, message);
  }

  // ---------------------------------------------------------------- banner

  function showError(err) {
    if (err instanceof ApiError && err.status === 401) return;  // back at sign-in
    const banner = document.querySelector('[data-test="error-banner"]');
    if (!banner) return;
    const kind = err instanceof ApiError ? err.kind : 'error';
    clear(banner).hidden = false;
    banner.className = 'banner';
    append(banner, [
      el('span', { class: 'msg' },
        el('span', { class: 'kind', text: `${kind}:` }),
        el('span', { test: 'error-message', text: err.message || String(err) })),
      el('button', { test: 'error-dismiss', title: 'Dismiss', 'aria-label': 'Dismiss', text: '×', on: { click: hideError } }),
    ]);
  }

  function hideError() {
    const banner = document.querySelector('[data-test="error-banner"]');
    if (banner) { clear(banner).hidden = true; }
  }

  // Runs an async action, showing any error in the banner.
  async function guarded(fn) {
    try {
      return await fn();
    } catch (err) {
      showError(err);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- sign-in

  function signOut(message) {
    state.token = '';
    state.health = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopTimers();
    state.viewGen++;
    renderSignIn(message || '');
  }

  function renderSignIn(message) {
    const root = clear(document.getElementById('app'));
    const input = el('input', {
      type: 'password', id: 'token', test: 'signin-token', autocomplete: 'off', spellcheck: 'false',
      placeholder: '64 hex digits', 'aria-label': 'API token',
    });
    const error = el('div', { class: 'signin-error', test: 'signin-error', hidden: !message, text: message || '' });
    const button = el('button', { type: 'submit', class: 'primary', test: 'signin-submit', text: 'Sign in' });
    const form = el('form', { class: 'signin-box', test: 'signin-form', novalidate: true },
      el('h1', {}, icon('logo'), 'dormant'),
      el('p', {}, 'Sign in with the API token of the catalog: the file ',
        el('code', { text: '<catalog>.api-token' }), ' written by ', el('code', { text: 'dormant serve' }), '.'),
      el('label', { for: 'token', text: 'API token' }),
      input,
      el('div', { class: 'actions' }, button),
      error);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) { error.textContent = 'enter the token'; error.hidden = false; return; }
      button.disabled = true;
      try {
        const health = await api('GET', '/health', undefined, { token, signIn: true });
        state.token = token;
        state.health = health;
        sessionStorage.setItem(TOKEN_KEY, token);
        if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/library';
        renderShell();
        route();
      } catch (err) {
        error.textContent = err.status === 401 ? 'invalid token' : err.message;
        error.hidden = false;
        button.disabled = false;
        input.select();
      }
    });
    append(root, el('div', { class: 'signin', test: 'signin' }, form));
    input.focus();
  }

  // ---------------------------------------------------------------- shell

  const NAV = [
    { route: 'library', label: 'Library', icon: 'library' },
    { route: 'groups', label: 'VM groups', icon: 'groups' },
    { route: 'hosts', label: 'Maintenance hosts', icon: 'hosts' },
    { route: 'sources', label: 'Update sources', icon: 'sources' },
    { route: 'jobs', label: 'Jobs', icon: 'jobs' },
    { route: 'reports', label: 'Reports', icon: 'reports' },
  ];

  function renderShell() {
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
        el('button', { test: 'signout', title: 'Sign out', on: { click: () => signOut('signed out') } }, 'Sign out')),
      nav,
      el('main', { class: 'main', id: 'main' },
        el('div', { class: 'banner', test: 'error-banner', role: 'alert', hidden: true }),
        el('div', { id: 'view', test: 'view' }))));
  }

  function setActiveNav(section) {
    for (const a of document.querySelectorAll('.nav a')) {
      a.classList.toggle('active', a.dataset.route === section);
    }
  }

  // ---------------------------------------------------------------- router

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

  function stopTimers() {
    for (const t of state.timers) clearTimeout(t);
    state.timers = [];
  }

  function route() {
    if (!state.token) { renderSignIn(''); return; }
    if (!document.getElementById('view')) renderShell();
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

  // The view container, emptied, for a view generation.
  function viewRoot() {
    return clear(document.getElementById('view'));
  }

  // True while the view that started some async work is still shown.
  function current(gen) {
    return gen === state.viewGen && !!state.token;
  }

  // Calls fn every POLL_MS while the view is current and fn returns true.
  function poll(gen, fn) {
    const tick = async () => {
      if (!current(gen)) return;
      let again = false;
      try {
        again = await fn();
      } catch (err) {
        showError(err);
        again = false;
      }
      if (again && current(gen)) state.timers.push(setTimeout(tick, POLL_MS));
    };
    state.timers.push(setTimeout(tick, POLL_MS));
  }

  // ---------------------------------------------------------------- tables

  // A sortable, filterable table.
  //   id: a stable name (keeps sort and filter across refreshes)
  //   columns: [{key, label, value(row) -> sort/filter value, render(row) -> Node|string, num, sortable}]
  //   rows, rowTest, rowData(row) -> dataset, rowClass(row), empty
  function dataTable({ id, columns, rows, rowTest, rowData, rowClass, empty, filterText }) {
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

  function compare(a, b) {
    const na = a === null || a === undefined || a === '';
    const nb = b === null || b === undefined || b === '';
    if (na || nb) return na && nb ? 0 : na ? 1 : -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return scalarText(a).localeCompare(scalarText(b), undefined, { numeric: true, sensitivity: 'base' });
  }

  // A table that re-renders itself on sort and on filter changes.
  function liveTable(container, spec) {
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

  function filterBox(id, onChange, placeholder) {
    return el('input', {
      type: 'text', test: `${id}-filter`, placeholder: placeholder || 'Filter…', value: state.filters[id] || '',
      'aria-label': 'Filter rows',
      on: { input: (ev) => { state.filters[id] = ev.target.value; onChange(); } },
    });
  }

  // ---------------------------------------------------------------- badges

  function complianceClass(c) {
    if (!c) return 'unassessed';
    if (c.state === 'compliant') return 'compliant';
    if (c.state === 'updates-pending' || c.state === 'security-updates-pending') return 'non-compliant';
    return 'unknown';
  }

  function complianceBadge(c) {
    const cls = complianceClass(c);
    return el('span', {
      class: `badge ${cls}`, test: 'compliance-badge', data: { compliance: cls, state: c ? c.state : 'unassessed' },
      title: c && c.reason ? c.reason : undefined, text: c ? c.state : 'unassessed',
    });
  }

  function stateBadge(value, test) {
    const s = String(value || 'unknown');
    return el('span', { class: `badge ${s}`, test: test || 'state-badge', data: { state: s }, text: s });
  }

  // ---------------------------------------------------------------- operations

  // Shows an operation's progress in `panel`, polled until it is not
  // running; resolves with the final operation.
  function followOperation(panel, op, gen) {
    return new Promise((resolve) => {
      const draw = (o) => {
        clear(panel).hidden = false;
        panel.className = 'panel operation';
        panel.dataset.test = 'operation';
        panel.dataset.state = o.state;
        panel.dataset.id = o.id;
        const args = Array.isArray(o.args) ? o.args.join(' ') : '';
        append(panel, [
          el('div', { class: 'op-head' },
            o.state === 'running' ? el('span', { class: 'spinner' }) : null,
            el('strong', { text: `${o.kind || 'operation'} #${o.id}` }),
            stateBadge(o.state, 'operation-state'),
            el('span', { class: 'muted mono', text: args }),
            el('span', { class: 'muted', text: o.finished_at ? `finished ${fmtTime(o.finished_at)}` : `started ${fmtTime(o.started_at)}` })),
          o.error ? el('div', { class: 'signin-error', test: 'operation-error', text: o.error.message || '' }) : null,
          o.log ? el('pre', { test: 'operation-log', text: tail(o.log, 40) }) : null,
        ]);
      };
      draw(op);
      if (op.state !== 'running') { resolve(op); return; }
      poll(gen, async () => {
        const o = await api('GET', `/operations/${encodeURIComponent(op.id)}`);
        if (!current(gen)) return false;
        draw(o);
        if (o.state !== 'running') { resolve(o); return false; }
        return true;
      });
    });
  }

  function tail(text, lines) {
    const all = String(text).split('\n');
    return all.slice(Math.max(0, all.length - lines)).join('\n');
  }

  // ---------------------------------------------------------------- Library

  async function viewLibrary() {
    const gen = state.viewGen;
    const root = viewRoot();
    const opPanel = el('div', { hidden: true });
    const tableBox = el('div', {});
    const count = el('span', { class: 'count', test: 'library-count' });
    const stateSel = el('select', { test: 'library-state-filter', 'aria-label': 'Compliance state' },
      [['', 'all states'], ['compliant', 'compliant'], ['updates-pending', 'updates pending'],
        ['security-updates-pending', 'security updates pending'], ['unknown', 'unknown'], ['unassessed', 'unassessed']]
        .map(([v, t]) => el('option', { value: v, text: t })));
    stateSel.value = state.filters['library-state'] || '';
    let images = [];
    let redraw = () => {};

    const assessBtn = el('button', { class: 'primary', test: 'assess-selected', text: 'Assess selected', disabled: true });
    const assessAllBtn = el('button', { test: 'assess-all', text: 'Assess all' });
    const identifyBtn = el('button', { test: 'identify', text: 'Identify' });
    const refreshBtn = el('button', { test: 'refresh', text: 'Refresh' });

    const updateButtons = () => {
      const n = [...state.selected].filter((id) => images.some((i) => i.id === id)).length;
      assessBtn.disabled = n === 0;
      assessBtn.textContent = n ? `Assess selected (${n})` : 'Assess selected';
    };

    const load = async () => {
      const st = stateSel.value;
      images = await api('GET', `/images${st ? `?state=${encodeURIComponent(st)}` : ''}`);
      if (!current(gen)) return;
      redraw();
    };

    const runOperation = async (path, body, buttons) => {
      buttons.forEach((b) => { b.disabled = true; });
      try {
        const op = await api('POST', path, body);
        const done = await followOperation(opPanel, op, gen);
        if (done.state === 'failed') showError(new ApiError(0, (done.error && done.error.kind) || 'failed', (done.error && done.error.message) || `${done.kind} failed`));
        if (current(gen)) await load();
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
        updateButtons();
      }
    };

    const all = [assessBtn, assessAllBtn, identifyBtn];
    assessBtn.addEventListener('click', () => guarded(() => {
      const ids = images.filter((i) => state.selected.has(i.id)).map((i) => i.id);
      if (!ids.length) throw new ApiError(0, 'usage', 'select at least one image');
      return runOperation('/assessments', { images: images.filter((i) => ids.includes(i.id)).map((i) => i.path) }, all);
    }));
    assessAllBtn.addEventListener('click', () => guarded(() => runOperation('/assessments', { all: true }, all)));
    identifyBtn.addEventListener('click', () => guarded(() => runOperation('/identify', {}, all)));
    refreshBtn.addEventListener('click', () => guarded(load));
    stateSel.addEventListener('change', () => { state.filters['library-state'] = stateSel.value; guarded(load); });

    const filter = filterBox('library', () => redraw(), 'Filter by any column…');
    append(root, [
      el('h2', { text: 'Library' }),
      el('div', { class: 'toolbar' }, filter, stateSel, count, el('span', { class: 'spacer' }),
        assessBtn, assessAllBtn, identifyBtn, refreshBtn),
      opPanel,
      tableBox,
    ]);

    redraw = liveTable(tableBox, () => librarySpec(images, updateButtons, () => redraw()));
    const origRedraw = redraw;
    redraw = () => {
      origRedraw();
      const shown = tableBox.querySelector('table').dataset.rows;
      count.textContent = `${shown} of ${images.length} image(s)`;
      updateButtons();
    };
    await load();
  }

  function librarySpec(images, onSelect, redraw) {
    const selectAll = () => {
      const table = document.querySelector('[data-test="library-table"]');
      const visible = table ? [...table.querySelectorAll('tr[data-test="library-row"]')].map((r) => Number(r.dataset.id)) : [];
      const allOn = visible.length && visible.every((id) => state.selected.has(id));
      for (const id of visible) { if (allOn) state.selected.delete(id); else state.selected.add(id); }
      redraw();
    };
    return {
      id: 'library',
      rows: images,
      rowData: (img) => ({ id: img.id, path: img.path }),
      rowClass: (img) => (state.selected.has(img.id) ? 'selected' : undefined),
      empty: 'No images: add a library (dormant library add DIR) and press Identify.',
      columns: [
        {
          key: 'select', cls: 'check', sortable: false,
          header: () => el('input', { type: 'checkbox', test: 'select-all', title: 'Select all shown', 'aria-label': 'Select all', on: { click: selectAll } }),
          render: (img) => el('input', {
            type: 'checkbox', test: 'select-image', checked: state.selected.has(img.id), 'aria-label': `Select ${baseName(img.path)}`,
            on: {
              change: (ev) => {
                if (ev.target.checked) state.selected.add(img.id); else state.selected.delete(img.id);
                ev.target.closest('tr').classList.toggle('selected', ev.target.checked);
                onSelect();
              },
            },
          }),
        },
        {
          key: 'path', label: 'Image', value: (img) => baseName(img.path),
          render: (img) => [
            el('a', { href: `#/images/${img.id}`, class: 'rowlink', test: 'image-link', title: img.path, text: baseName(img.path) }),
            el('span', { class: 'sub', text: img.path }),
          ],
        },
        { key: 'domain', label: 'Domain', value: (img) => img.domain || '' },
        { key: 'os', label: 'OS', value: (img) => (img.os && (img.os.pretty_name || img.os.id)) || '' },
        { key: 'state', label: 'State', value: (img) => img.state || '', render: (img) => stateBadge(img.state, 'image-state') },
        { key: 'compliance', label: 'Compliance', value: (img) => (img.compliance ? img.compliance.state : 'unassessed'), render: (img) => complianceBadge(img.compliance) },
        { key: 'updates', label: 'Updates', num: true, value: (img) => (img.compliance ? img.compliance.updates : null), render: (img) => el('span', { test: 'updates', text: img.compliance ? scalarText(img.compliance.updates) : '' }) },
        { key: 'security', label: 'Security', num: true, value: (img) => (img.compliance ? img.compliance.security_updates : null), render: (img) => el('span', { test: 'security-updates', text: img.compliance ? scalarText(img.compliance.security_updates) : '' }) },
        { key: 'assessed', label: 'Assessed', value: (img) => (img.compliance ? img.compliance.assessed_at : ''), render: (img) => fmtTime(img.compliance && img.compliance.assessed_at) },
        { key: 'groups', label: 'Groups', value: (img) => (img.groups || []).join(', ') },
      ],
    };
  }

  // ---------------------------------------------------------------- image detail

  async function viewImage(id) {
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

  // A table of arbitrary objects: one column per scalar field seen.
  function genericTable(id, rows, empty) {
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

  // ---------------------------------------------------------------- VM groups

  async function viewGroups() {
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

  async function viewGroup(name) {
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
        route();
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

  // ---------------------------------------------------------------- Maintenance hosts

  async function viewHosts() {
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

  function hostOf(h) {
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

  // A titled form laid out as a grid of [label, control] rows.
  function formPanel(test, title, rows, submitTest, submitText, onSubmit) {
    const button = el('button', { type: 'submit', class: 'primary', test: submitTest, text: submitText });
    const form = el('form', { class: 'panel', test, novalidate: true },
      el('h3', { text: title, style: undefined }),
      el('div', { class: 'form-grid' }, rows.map(([label, control, hint]) => {
        const id = control.id || `f-${test}-${label.replace(/\W+/g, '-').toLowerCase()}`;
        control.id = id;
        return [el('label', { for: id, text: label }), control, hint ? el('div', { class: 'hint', text: hint }) : null];
      })),
      el('div', { class: 'form-actions' }, button));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      button.disabled = true;
      guarded(onSubmit).finally(() => { button.disabled = false; });
    });
    return form;
  }

  // ---------------------------------------------------------------- Update sources

  async function viewSources() {
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

  // ---------------------------------------------------------------- Jobs

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

  async function viewJobs() {
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

  async function viewNewJob() {
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

  // ---------------------------------------------------------------- run view

  const SETTLED = ['done', 'failed', 'cancelled'];

  async function viewRun(id) {
    const gen = state.viewGen;
    const root = viewRoot();
    const expanded = new Set();
    const head = el('div', {});
    const itemsBox = el('div', {});
    append(root, [
      el('div', { class: 'crumbs' }, el('a', { href: '#/jobs', text: 'Jobs' }), ` / run ${id}`),
      el('div', { test: 'run-view', data: { id } }, head, itemsBox),
    ]);
    let data = null;
    const draw = () => {
      clear(head);
      append(head, runHeader(data, id, () => guarded(async () => {
        if (!confirm(`Cancel run ${id}?`)) return;
        await api('POST', `/runs/${encodeURIComponent(id)}/cancel`, {});
        await refresh();
      })));
      clear(itemsBox);
      append(itemsBox, runItemsTable(data.items || [], expanded, draw));
    };
    const refresh = async () => {
      const d = await api('GET', `/runs/${encodeURIComponent(id)}`);
      if (!current(gen)) return false;
      data = d;
      draw();
      return runOf(d).state === 'running';
    };
    if (await refresh()) poll(gen, refresh);
  }

  function runOf(d) {
    return (d && d.run && typeof d.run === 'object') ? d.run : (d || {});
  }

  function countsOf(d) {
    if (d.counts && typeof d.counts === 'object') return d.counts;
    const c = {};
    for (const it of d.items || []) c[it.state] = (c[it.state] || 0) + 1;
    return c;
  }

  function runHeader(d, id, onCancel) {
    const run = runOf(d);
    const counts = countsOf(d);
    const items = d.items || [];
    const total = items.length || (run.settings && run.settings.items) || 0;
    const settled = SETTLED.reduce((n, s) => n + (counts[s] || 0), 0);
    const pct = total ? Math.round((settled * 100) / total) : 0;
    const jobName = typeof d.job === 'object' && d.job ? d.job.name : (d.job || run.job || '');
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${pct}%`;
    const settings = run.settings || {};
    return [
      el('div', { class: 'run-head' },
        el('span', { class: 'title', test: 'run-title', text: `Run ${run.id ?? id} of job ${jobName}` }),
        el('span', { class: `badge ${run.state}`, test: 'run-state', data: { state: run.state || '' }, text: run.state || '' }),
        run.state === 'running' ? el('span', { class: 'spinner' }) : null,
        el('span', { class: 'muted', text: [run.trigger, run.started_at && `started ${fmtTime(run.started_at)}`, run.finished_at && `finished ${fmtTime(run.finished_at)}`].filter(Boolean).join(' · ') }),
        el('span', { class: 'spacer' }),
        run.state === 'running' ? el('button', { class: 'danger', test: 'run-cancel', text: 'Cancel run', on: { click: onCancel } }) : null),
      run.stop_reason ? el('div', { class: 'banner info', test: 'run-reason', text: run.stop_reason }) : null,
      el('div', { class: 'counts', test: 'run-counts' },
        ['pending', 'running', 'done', 'failed', 'cancelled'].map((s) => el('span', { class: `badge ${s}`, test: `count-${s}`, data: { count: counts[s] || 0 }, text: `${s} ${counts[s] || 0}` }))),
      el('div', { class: `progress${counts.failed ? ' has-failures' : ''}`, test: 'run-progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': settled, data: { settled, total } }, bar),
      el('div', { class: 'progress-text', test: 'run-progress-text', text: `${settled} of ${total} image(s) settled${settings.max_concurrent ? ` · at most ${settings.max_concurrent} at once` : ''}${settings.error_threshold !== undefined ? ` · stops when failures exceed ${settings.error_threshold}` : ''}` }),
    ];
  }

  function runItemsTable(items, expanded, redraw) {
    const cols = ['Image', 'State', 'Attempt', 'Host', 'Result', 'Reason', 'Started', 'Finished', ''];
    const body = el('tbody', {});
    for (const it of items) {
      const key = String(it.image_id ?? it.image);
      const open = expanded.has(key);
      append(body, el('tr', { test: 'run-item', data: { image: it.image || '', imageId: it.image_id ?? '', state: it.state || '' } },
        el('td', {}, el('span', { class: 'file', title: it.image, text: baseName(it.image) }), el('span', { class: 'sub', text: it.image || '' })),
        el('td', {}, stateBadge(it.state, 'item-state')),
        el('td', { class: 'num', test: 'item-attempt', text: scalarText(it.attempt) }),
        el('td', { text: it.host || '' }),
        el('td', { test: 'item-result', text: it.result || '' }),
        el('td', { test: 'item-reason', text: it.reason || '' }),
        el('td', { text: fmtTime(it.started_at) }),
        el('td', { text: fmtTime(it.finished_at) }),
        el('td', { class: 'actions' }, el('button', {
          class: 'small', test: 'item-log-toggle', text: open ? 'Hide log' : 'Log', disabled: !it.log,
          on: { click: () => { if (open) expanded.delete(key); else expanded.add(key); redraw(); } },
        }))));
      if (open) append(body, el('tr', { class: 'log-row' }, el('td', { colspan: cols.length }, el('pre', { class: 'log', test: 'item-log', text: it.log || '' }))));
    }
    if (!items.length) append(body, el('tr', {}, el('td', { class: 'empty', colspan: cols.length, text: 'No items.' })));
    return el('div', { class: 'table-wrap' },
      el('table', { class: 'grid', test: 'run-items' }, el('thead', {}, el('tr', {}, cols.map((c) => el('th', { text: c })))), body));
  }

  // ---------------------------------------------------------------- Reports

  async function viewReports() {
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

  // ---------------------------------------------------------------- start

  async function start() {
    window.addEventListener('hashchange', route);
    if (!state.token) { renderSignIn(''); return; }
    try {
      state.health = await api('GET', '/health', undefined, { signIn: true });
    } catch (err) {
      signOut(err.status === 401 ? 'invalid token' : err.message);
      return;
    }
    renderShell();
    route();
  }

  start();
})();
