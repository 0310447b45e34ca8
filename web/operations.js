// operations.js: followOperation() shows a server operation (assess,
// identify) with its state and the tail of its log, polled until it ends.

import { api } from './api.js';
import { el, append, clear, stateBadge } from './dom.js';
import { fmtTime } from './format.js';
import { current, poll } from './view.js';

// Shows an operation's progress in `panel`, polled until it is not
// running; resolves with the final operation.
export function followOperation(panel, op, gen) {
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
