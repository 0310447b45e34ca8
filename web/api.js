// api.js: the REST API client (docs/api.md). api() sends a request with the
// session's bearer token and returns the parsed JSON; ApiError carries the
// server's {"error": {"kind", "message"}}; a 401 calls the handler set with
// onUnauthorized() (main.js: back to sign-in). checkName() is the client's
// check of names, shared by the forms.

import { state } from './state.js';

const API = '/api/v1';
let unauthorized = () => {};

// Sets what a 401 outside sign-in does (main.js signs out with the message).
export function onUnauthorized(fn) {
  unauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

export async function api(method, path, body, opts = {}) {
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
    unauthorized('session expired or token refused: sign in again');
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

// Names (groups, hosts, sources, jobs) may not begin with '-' (docs/api.md).
export function checkName(name, what) {
  if (name.startsWith('-')) throw new ApiError(0, 'usage', `invalid ${what} name '${name}': it may not begin with '-'`);
  return name;
}
