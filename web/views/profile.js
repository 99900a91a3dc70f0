// A person's profile (F1 `get_user`), with the "Send message" button that opens the
// one conversation with them, created the first time.

import { api } from '../lib/api.js';
import { avatar, el, handle, matrixBadge } from '../lib/dom.js';
import { backIcon } from './sidebar.js';

/**
 * Renders the profile of user `id` into a new element (it fills in when the server
 * answers). `openChat(user)` resolves to the conversation id to go to. `update`
 * takes the state's changes: a new name of this user shows at once.
 */
export function profileView({ id, me, presence, openChat, navigate, back }) {
  const body = el('div', { class: 'profile-body' }, el('p', { class: 'muted', text: 'Loading…' }));
  const element = el('section', { class: 'profile', 'aria-label': 'Profile' },
    el('header', { class: 'chat-header' },
      el('button', { type: 'button', class: 'icon-button back-button', 'aria-label': 'Back to conversations', on: { click: back } }, backIcon()),
      el('h2', { class: 'header-title', text: 'Profile' })),
    body);
  // Set once the server has answered: shows the user's new name.
  let rename = null;

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
    const face = el('span', { class: `avatar-wrap${presence(user.id) === 'online' ? ' online' : ''}` }, avatar(user, 'huge'), el('span', { class: 'presence-dot', 'aria-hidden': 'true' }));
    const name = el('h1', { class: 'profile-name', text: user.display_name });
    body.replaceChildren(el('div', { class: 'profile-card' },
      face,
      name,
      el('p', { class: 'username' }, matrixBadge(user), user.matrix_id ? ' ' : null, handle(user)),
      isMe
        ? el('p', { class: 'muted', text: 'This is you.' })
        : el('p', { class: 'muted', text: profile.conversation_id ? 'You have talked before.' : 'You have not talked yet.' }),
      isMe ? null : button,
      error));
    // In place, so that the focus (on "Send message") stays where it is.
    rename = (changed) => {
      user = { ...user, ...changed };
      name.textContent = user.display_name;
      face.firstChild.replaceWith(avatar(user, 'huge'));
    };
    if (!isMe) button.focus();
  }).catch((e) => {
    body.replaceChildren(el('p', { class: 'form-error', role: 'alert', text: e.message }));
  });

  const update = (change) => {
    if (change.kind === 'profile' && change.user?.id === id && rename) rename(change.user);
  };
  return { element, update };
}
