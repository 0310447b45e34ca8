// state.js: the console's state, shared by every module: the session's API
// token and the server's health answer, the images selected in the Library,
// each table's sort and filter, and the current view's generation and timers.

// sessionStorage key of the token (kept for the tab only).
export const TOKEN_KEY = 'dormant.token';

export const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  health: null,
  selected: new Set(),   // image ids selected in the Library (also job targets)
  sort: {},              // table id -> {key, dir}
  filters: {},           // table id -> filter text
  viewGen: 0,            // bumped on every navigation: stale async work stops
  timers: [],            // polling timers of the current view
};
