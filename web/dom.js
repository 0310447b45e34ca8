// dom.js: building the page. el() creates an element from properties and
// children; text always goes through textContent / text nodes, never HTML, so
// data from the catalog is escaped by construction. Also append(), clear(),
// the inline SVG icons, and the image-state and compliance badges.

// el('div', {class: 'x', test: 'foo', text: 'hi', on: {click: f}}, child...)
export function el(tag, props, ...children) {
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
export function append(node, children) {
  const list = Array.isArray(children) ? children.flat(Infinity) : [children];
  for (const child of list) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
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

export function icon(name) {
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

function complianceClass(c) {
  if (!c) return 'unassessed';
  if (c.state === 'compliant') return 'compliant';
  if (c.state === 'updates-pending' || c.state === 'security-updates-pending') return 'non-compliant';
  return 'unknown';
}

export function complianceBadge(c) {
  const cls = complianceClass(c);
  return el('span', {
    class: `badge ${cls}`, test: 'compliance-badge', data: { compliance: cls, state: c ? c.state : 'unassessed' },
    title: c && c.reason ? c.reason : undefined, text: c ? c.state : 'unassessed',
  });
}

export function stateBadge(value, test) {
  const s = String(value || 'unknown');
  return el('span', { class: `badge ${s}`, test: test || 'state-badge', data: { state: s }, text: s });
}
