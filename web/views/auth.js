// The login and registration screen. Each control has a visible label; the server's
// own message is shown under the form when it refuses (wrong password, username
// taken, too many attempts).

import { api } from '../lib/api.js';
import { el } from '../lib/dom.js';

/**
 * Renders the screen into `root`; calls `onLoggedIn(user)` once the server accepts.
 * `notice` is shown above the form (e.g. "Your session has ended").
 */
export function renderAuth(root, { onLoggedIn, notice = null, mode = 'login' }) {
  const register = mode === 'register';
  const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
  const field = (id, label, attrs) =>
    el('div', { class: 'field' }, el('label', { for: id, text: label }), el('input', { id, name: id, ...attrs }));

  const submit = el('button', {
    type: 'submit',
    class: 'button primary wide',
    text: register ? 'Create account' : 'Log in',
  });
  const form = el(
    'form',
    { class: 'auth-form', novalidate: true },
    field('username', 'Username', {
      autocomplete: 'username',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      minlength: 3,
      maxlength: 32,
    }),
    register && field('display_name', 'Display name', { autocomplete: 'name', maxlength: 64 }),
    field('password', 'Password', {
      type: 'password',
      autocomplete: register ? 'new-password' : 'current-password',
      required: true,
      minlength: register ? 8 : undefined,
    }),
    error,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const username = String(data.get('username') ?? '').trim();
    const password = String(data.get('password') ?? '');
    error.hidden = true;
    submit.disabled = true;
    try {
      const { user } = register
        ? await api.register(username, password, String(data.get('display_name') ?? '').trim())
        : await api.login(username, password);
      onLoggedIn(user);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      const bad = e.field && form.elements.namedItem(e.field);
      if (bad) bad.focus();
    } finally {
      submit.disabled = false;
    }
  });

  const switchMode = el('button', {
    type: 'button',
    class: 'link-button',
    text: register ? 'I already have an account' : 'Sign up',
    on: { click: () => renderAuth(root, { onLoggedIn, mode: register ? 'login' : 'register' }) },
  });

  root.replaceChildren(
    el(
      'main',
      { class: 'auth' },
      el(
        'div',
        { class: 'auth-card' },
        el('div', { class: 'brand' }, el('img', { src: new URL('../icon.svg', import.meta.url).href, alt: '', class: 'brand-icon' }), el('span', { text: 'gadka' })),
        el('h1', { text: register ? 'Create your account' : 'Welcome back' }),
        el('p', {
          class: 'muted',
          text: register ? 'Pick a username people can find you by.' : 'Log in to pick up your conversations.',
        }),
        notice && el('p', { class: 'notice', role: 'status', text: notice }),
        form,
        el('p', { class: 'switch muted' }, register ? 'Have an account? ' : 'New to gadka? ', switchMode),
      ),
    ),
  );
  form.elements.namedItem('username').focus();
}
