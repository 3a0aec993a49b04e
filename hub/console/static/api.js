// The hub's JSON API, called with the signed-in token as a bearer header.
// The token lives in sessionStorage: one browser tab, gone when it closes.

const TOKEN_KEY = 'switchboard.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** ApiError carries the HTTP status and the OperationOutcome's diagnostics. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** withQuery appends the non-empty query parameters to path. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * request sends one API call and returns the Response when it is 2xx. A
 * failure throws ApiError with the OperationOutcome's diagnostics; a 401
 * also fires "sb:unauthorized" on window so the page can sign out (the
 * token was revoked or expired).
 */
export async function request(method, path, { query, body, accept = 'application/json' } = {}) {
  const headers = { Authorization: `Bearer ${token.get()}`, Accept: accept };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(withQuery(path, query), {
      method, headers, body: payload, cache: 'no-store', credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError(0, `The hub did not answer (${err.message}).`);
  }
  if (!resp.ok) {
    const message = await errorMessage(resp);
    if (resp.status === 401) {
      window.dispatchEvent(new CustomEvent('sb:unauthorized', { detail: message }));
    }
    throw new ApiError(resp.status, message);
  }
  return resp;
}

/** api is request for JSON answers. */
export async function api(method, path, opts) {
  const resp = await request(method, path, opts);
  if (resp.status === 204) return {};
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

/**
 * session creates (POST) or removes (DELETE) the HttpOnly cookie River UI
 * authenticates with. Best effort: the console works without it, so a
 * failure is ignored and never signs the user out.
 */
export async function session(method, bearer = token.get()) {
  try {
    await fetch('/console/session', {
      method, headers: { Authorization: `Bearer ${bearer}` }, credentials: 'same-origin', cache: 'no-store',
    });
  } catch {
    // ignored on purpose, see above
  }
}

/**
 * download fetches path with the bearer header (a plain link cannot carry
 * it) and saves the body as filename through a Blob and an object URL.
 * Returns the Blob.
 */
export async function download(path, query, filename) {
  const resp = await request('GET', path, { query, accept: '*/*' });
  const blob = await resp.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started by now; keep the URL a while for slow disks.
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  return blob;
}

/** errorMessage reads an OperationOutcome's issue diagnostics. */
async function errorMessage(resp) {
  let text = '';
  try {
    text = await resp.text();
  } catch {
    // fall through to the status line
  }
  try {
    const outcome = JSON.parse(text);
    const issues = Array.isArray(outcome?.issue) ? outcome.issue : [];
    const parts = issues.map((i) => i.diagnostics || i.details?.text || i.code).filter(Boolean);
    if (parts.length) return parts.join('; ');
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ''}`;
}
