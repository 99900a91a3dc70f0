// The login and registration screen. Each control has a visible label; on the sign-up
// form the username's rules are written under it and checked as they are typed
// (lib/rules.js), each problem tied to its field. The server's refusals are put in
// words people know (taken, wrong password, too many attempts), under the field they
// are about where there is one; a refusal without words here shows the server's own.

import { api } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { PASSWORD_RULE, USERNAME_RULE, passwordProblem, usernameProblem } from '../lib/rules.js';

/**
 * What a refusal of the form says, and which field it is about (or null): the
 * server's code in words, its own message for the codes not known here. `username`
 * is the name that was sent.
 */
export function authError(e, { register, username }) {
  switch (e.code) {
    case 'invalid_credentials':
      return { field: null, text: 'Wrong username or password. Check both and try again.' };
    case 'username_taken':
      return { field: 'username', text: 'This username is taken. Try another one.' };
    case 'rate_limited': {
      // The server says how long in its message ("… try again in 42 s").
      const seconds = Number(/(\d+)\s*s\b/.exec(e.message)?.[1]);
      return {
        field: null,
        text: seconds > 0
          ? `Too many attempts. Try again in ${seconds} ${seconds === 1 ? 'second' : 'seconds'}.`
          : 'Too many attempts. Wait a minute, then try again.',
      };
    }
    case 'invalid_input':
      if (e.field === 'username' && register) return { field: 'username', text: usernameProblem(username) ?? USERNAME_RULE };
      if (e.field === 'password' && register) return { field: 'password', text: 'Use at least 8 characters.' };
      return { field: e.field ?? null, text: e.message };
    default:
      return { field: null, text: e.message };
  }
}

/**
 * Renders the screen into `root`; calls `onLoggedIn(user)` once the server accepts.
 * `notice` is shown above the form (e.g. "Your session has ended").
 */
export function renderAuth(root, { onLoggedIn, notice = null, mode = 'login' }) {
  const register = mode === 'register';
  const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
  const problems = new Map();

  /** A field with its label, and on sign-up its rule under it and room for its problem. */
  const field = (id, label, attrs, rule = null) => {
    const input = el('input', { id, name: id, ...attrs });
    const help = rule ? el('p', { id: `${id}-help`, class: 'field-help', text: rule }) : null;
    const problem = el('p', { id: `${id}-error`, class: 'field-error', hidden: true });
    problems.set(id, { input, help, problem });
    describe(id);
    return el('div', { class: 'field' }, el('label', { for: id, text: label }), input, help, problem);
  };
  /** Shows a field's problem (or clears it with null), tied to the field for screen readers. */
  const setProblem = (id, text) => {
    const { input, problem } = problems.get(id);
    problem.textContent = text ?? '';
    problem.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    describe(id);
  };
  function describe(id) {
    const { input, help, problem } = problems.get(id);
    const ids = [help, problem].filter((n) => n && !n.hidden).map((n) => n.id);
    if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
    else input.removeAttribute('aria-describedby');
  }

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
    }, register ? USERNAME_RULE : null),
    register && field('display_name', 'Display name', { autocomplete: 'name', maxlength: 64 }),
    field('password', 'Password', {
      type: 'password',
      autocomplete: register ? 'new-password' : 'current-password',
      required: true,
      minlength: register ? 8 : undefined,
    }, register ? PASSWORD_RULE : null),
    error,
    submit,
  );
  const username = problems.get('username').input;
  const password = problems.get('password').input;
  if (register) {
    // Checked as typed; "too short" waits until the person leaves the field. Leaving
    // a field only ever adds a problem: one that vanished then would move the page
    // under the pointer between the press and the release of a click elsewhere.
    username.addEventListener('input', () => setProblem('username', usernameProblem(username.value, { typing: true })));
    username.addEventListener('blur', () => {
      const problem = username.value && usernameProblem(username.value);
      if (problem) setProblem('username', problem);
    });
    password.addEventListener('input', () => {
      if (!problems.get('password').problem.hidden) setProblem('password', passwordProblem(password.value));
    });
    password.addEventListener('blur', () => {
      const problem = password.value && passwordProblem(password.value);
      if (problem) setProblem('password', problem);
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = String(data.get('username') ?? '').trim();
    const secret = String(data.get('password') ?? '');
    error.hidden = true;
    if (register) {
      const found = [['username', usernameProblem(name)], ['password', passwordProblem(secret)]];
      for (const [id, problem] of found) setProblem(id, problem);
      const first = found.find(([, problem]) => problem);
      if (first) {
        problems.get(first[0]).input.focus();
        return;
      }
    } else if (!name || !secret) {
      error.textContent = 'Enter your username and password.';
      error.hidden = false;
      (name ? password : username).focus();
      return;
    }
    submit.disabled = true;
    try {
      const { user } = register
        ? await api.register(name, secret, String(data.get('display_name') ?? '').trim())
        : await api.login(name, secret);
      onLoggedIn(user);
    } catch (e) {
      const { field: about, text } = authError(e, { register, username: name });
      if (about && problems.has(about)) {
        setProblem(about, text);
        problems.get(about).input.focus();
      } else {
        error.textContent = text;
        error.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });

  const switchMode = el('button', {
    type: 'button',
    class: 'link-button',
    text: register ? 'Log in' : 'Sign up',
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
  username.focus();
}
