// forms.js: formPanel(), a titled form laid out as a grid of labelled
// controls whose submit action reports its errors in the banner.

import { el } from './dom.js';
import { guarded } from './banner.js';

// A titled form laid out as a grid of [label, control] rows.
export function formPanel(test, title, rows, submitTest, submitText, onSubmit) {
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
