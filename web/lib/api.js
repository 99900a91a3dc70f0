// The HTTP JSON API, as the client uses it. Errors come back as `ApiError`s that
// carry the server's own message, which the forms show as they are.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    Object.assign(this, { status, code, field });
  }
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // A body that is not JSON (a proxy's error page): the status says enough.
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? 'http',
      error.message ?? `The server answered ${response.status}.`,
      error.field,
    );
  }
  return data;
}

export const api = {
  me: () => call('GET', '/api/me'),
  login: (username, password) => call('POST', '/api/login', { username, password }),
  register: (username, password, displayName) =>
    call('POST', '/api/register', {
      username,
      password,
      ...(displayName ? { display_name: displayName } : {}),
    }),
  logout: () => call('POST', '/api/logout'),
  search: (q) => call('GET', `/api/users?q=${encodeURIComponent(q)}&limit=20`),
  profile: (id) => call('GET', `/api/users/${encodeURIComponent(id)}`),
  open: (userId) => call('POST', '/api/conversations', { user_id: userId }),
  /** A page of the list, newest activity first: `{conversations, next_cursor}`; pass
   * `next_cursor` back as `cursor` for the next page (it is null after the last). */
  conversations: ({ cursor, limit = 100, messages = 1 } = {}) => {
    const query = new URLSearchParams({ limit, messages });
    if (cursor) query.set('cursor', cursor);
    return call('GET', `/api/conversations?${query}`);
  },
  /** One conversation as the list shows it, with its newest 30 messages (404 when it
   * is not mine). */
  conversation: (id) =>
    call('GET', `/api/conversations/${encodeURIComponent(id)}?messages=30`),
  updateMe: (displayName) => call('PATCH', '/api/me', { display_name: displayName }),
};

/** "ok", "ended" (no live session) or "unreachable": what a reconnect needs to know. */
export async function sessionState() {
  try {
    await api.me();
    return 'ok';
  } catch (e) {
    return e.status === 401 ? 'ended' : 'unreachable';
  }
}
