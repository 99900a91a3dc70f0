// A person's profile (F1 `get_user`), with the "Send message" button that opens the
// one conversation with them, created the first time; on my own profile, my display
// name can be changed.

import { api } from '../lib/api.js';
import { avatar, el, handle, matrixBadge } from '../lib/dom.js';
import { displayNameProblem } from '../lib/rules.js';
import { backIcon } from './sidebar.js';

const PRESENCE_TEXT = { online: 'Online', offline: 'Offline', unknown: 'Waiting for the connection' };

/**
 * Renders the profile of user `id` into a new element (it fills in when the server
 * answers). `openChat(user)` resolves to the conversation id to go to;
 * `rename(displayName)` changes my own name and resolves to me as stored. `update`
 * takes the state's changes: a new name of this user, and their presence, show at once.
 */
export function profileView({ id, me, presence, openChat, rename, navigate, back }) {
  const body = el('div', { class: 'profile-body' }, el('p', { class: 'muted', text: 'Loading…' }));
  const element = el('section', { class: 'profile', 'aria-label': 'Profile' },
    el('header', { class: 'chat-header' },
      el('button', { type: 'button', class: 'icon-button back-button', 'aria-label': 'Back to conversations', on: { click: back } }, backIcon()),
      el('h2', { class: 'header-title', text: 'Profile' })),
    body);
  // Set once the server has answered.
  let shown = null;

  api.profile(id).then((profile) => {
    let user = { id: profile.id, username: profile.username, display_name: profile.display_name, matrix_id: profile.matrix_id };
    const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
    const isMe = user.id === me.id;
    const button = el('button', {
      type: 'button',
      class: 'button primary',
      text: 'Send message',
      on: {
        click: async () => {
          button.disabled = true;
          error.hidden = true;
          try {
            navigate(`/c/${await openChat(user)}`);
          } catch (e) {
            error.textContent = e.message;
            error.hidden = false;
            button.disabled = false;
          }
        },
      },
    });
    const face = el('span', { class: 'avatar-wrap' }, avatar(user, 'huge'), el('span', { class: 'presence-dot', 'aria-hidden': 'true' }));
    const status = el('p', { class: 'presence' });
    const name = el('h2', { class: 'profile-name', text: user.display_name });
    const nameSlot = el('div', { class: 'profile-name-slot' }, name);
    const editButton = el('button', {
      type: 'button',
      class: 'button ghost small change-name',
      text: 'Change name',
      on: { click: () => edit() },
    });
    const showPresence = () => {
      const now = presence(user.id);
      face.className = `avatar-wrap${now === 'online' ? ' online' : ''}`;
      status.className = `presence is-${now}`;
      status.textContent = PRESENCE_TEXT[now];
    };
    showPresence();

    // My name, changed in place: a form where the name was, back to the name after.
    const edit = () => {
      const fieldError = el('p', { id: 'display-name-error', class: 'field-error', hidden: true });
      const input = el('input', {
        id: 'display-name',
        name: 'display_name',
        value: user.display_name,
        maxlength: 64,
        autocomplete: 'name',
        required: true,
      });
      const save = el('button', { type: 'submit', class: 'button primary small', text: 'Save' });
      const showProblem = (problem) => {
        fieldError.textContent = problem ?? '';
        fieldError.hidden = !problem;
        if (problem) {
          input.setAttribute('aria-invalid', 'true');
          input.setAttribute('aria-describedby', fieldError.id);
        } else {
          input.removeAttribute('aria-invalid');
          input.removeAttribute('aria-describedby');
        }
      };
      const done = () => {
        nameSlot.replaceChildren(name);
        editButton.hidden = false;
        editButton.focus();
      };
      const form = el('form', {
        class: 'name-editor',
        novalidate: true,
        on: {
          submit: async (event) => {
            event.preventDefault();
            const problem = displayNameProblem(input.value);
            showProblem(problem);
            if (problem) {
              input.focus();
              return;
            }
            save.disabled = true;
            try {
              await rename(input.value);
              done();
            } catch (e) {
              showProblem(e.status === 0 ? e.message : `The name was not changed: ${e.message}`);
              input.focus();
            } finally {
              save.disabled = false;
            }
          },
        },
      },
      el('label', { for: 'display-name', text: 'Display name' }),
      input,
      fieldError,
      el('div', { class: 'name-editor-actions' },
        save,
        el('button', { type: 'button', class: 'button ghost small', text: 'Cancel', on: { click: done } })));
      input.addEventListener('input', () => showProblem(displayNameProblem(input.value)));
      // Escape leaves the editor, not the profile.
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Escape') {
          event.preventDefault();
          done();
        }
      });
      editButton.hidden = true;
      nameSlot.replaceChildren(form);
      input.focus();
      input.select();
    };

    body.replaceChildren(el('div', { class: 'profile-card' },
      face,
      nameSlot,
      el('p', { class: 'username' }, matrixBadge(user), user.matrix_id ? ' ' : null, handle(user)),
      isMe ? null : status,
      isMe
        ? el('p', { class: 'muted', text: 'This is you.' })
        : el('p', { class: 'muted', text: profile.conversation_id ? 'You have talked before.' : 'You have not talked yet.' }),
      isMe ? editButton : button,
      error));
    shown = {
      // In place, so that the focus (on "Send message") stays where it is.
      rename: (changed) => {
        user = { ...user, ...changed };
        name.textContent = user.display_name;
        face.firstChild.replaceWith(avatar(user, 'huge'));
      },
      presence: showPresence,
    };
    if (!isMe) button.focus();
  }).catch((e) => {
    body.replaceChildren(el('p', { class: 'form-error', role: 'alert', text: e.message }));
  });

  const update = (change) => {
    if (!shown) return;
    if (change.kind === 'profile' && change.user?.id === id) shown.rename(change.user);
    if (change.kind === 'presence') shown.presence();
  };
  return { element, update };
}
