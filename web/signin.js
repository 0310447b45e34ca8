// signin.js: the sign-in page. It asks for the API token, checks it with
// GET /health, and keeps it in the tab's sessionStorage.

import { state, TOKEN_KEY } from './state.js';
import { el, append, clear, icon } from './dom.js';
import { api } from './api.js';

// Shows the sign-in page with `message` (empty: none); once a token is
// accepted, calls onSignedIn().
export function renderSignIn(message, onSignedIn) {
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
      onSignedIn();
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
