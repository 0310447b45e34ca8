// banner.js: the error banner above the view. showError() shows an error's
// kind and message, hideError() dismisses it, guarded() runs an async action
// and sends its error there.

import { el, append, clear } from './dom.js';
import { ApiError } from './api.js';

export function showError(err) {
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

export function hideError() {
  const banner = document.querySelector('[data-test="error-banner"]');
  if (banner) { clear(banner).hidden = true; }
}

// Runs an async action, showing any error in the banner.
export async function guarded(fn) {
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  }
}
