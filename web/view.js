// view.js: the life cycle of a view: its emptied container, the generation
// that tells async work whether its view is still shown, polling while it is,
// the timers stopped on navigation, and refreshView() to render it again.

import { state } from './state.js';
import { clear } from './dom.js';
import { showError } from './banner.js';

const POLL_MS = 1000;
let router = () => {};

// Sets the function that renders the view of location.hash (main.js).
export function setRouter(fn) {
  router = fn;
}

// Renders the current view again, as a new generation.
export function refreshView() {
  router();
}

// Stops the polling timers of the view shown.
export function stopTimers() {
  for (const t of state.timers) clearTimeout(t);
  state.timers = [];
}

// The view container, emptied, for a view generation.
export function viewRoot() {
  return clear(document.getElementById('view'));
}

// True while the view that started some async work is still shown.
export function current(gen) {
  return gen === state.viewGen && !!state.token;
}

// Calls fn every POLL_MS while the view is current and fn returns true.
export function poll(gen, fn) {
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
