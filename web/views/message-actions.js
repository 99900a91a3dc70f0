// What can be done to a message: its menu (a menu button's popup: quick reactions,
// another reaction typed in, reply, and on my own messages edit and delete), the
// confirmation before a delete (a modal <dialog>), and the requests behind them,
// sent over the socket like sends. The result is said through the page's status
// region ("Reaction added", "Message deleted"); a refusal in words under the message
// box.
//
// Keys in the menu: ↑/↓ (and ←/→) move, Home/End, Enter or Space chooses, Escape
// closes it and gives the focus back to its button, as does Tab.

import { el } from '../lib/dom.js';
import { summary } from '../lib/media.js';
import { QUICK_REACTIONS, actionRefusal, hasReacted, reactionKeyError, snippet } from '../lib/reactions.js';

/** Room kept between the menu and the window's edges. */
const EDGE_PX = 8;

export class MessageActions {
  /**
   * `state` and `conversationId` say which messages; `host` is where the menu and the
   * dialog go (the chat); `scroller` the log (the menu follows its button as it
   * scrolls). `request(frame)` sends a socket command and resolves with its answer;
   * `announce(text)` speaks through the status region; `showError(text)` shows a
   * refusal; `reply(message)`, `edit(message)` start those in the message box;
   * `jumpTo(seq)` shows a message; `focusLost()` puts the focus somewhere sensible.
   */
  constructor(options) {
    Object.assign(this, options);
    this.popup = null;
    this.onOutside = (event) => {
      if (this.popup && !this.popup.contains(event.target) && !this.button.contains(event.target)) this.closeMenu();
    };
    this.onScroll = () => this.place();
  }

  me() {
    return this.state.me.id;
  }

  message(seq) {
    return this.state.conversations.get(this.conversationId)?.messages.get(seq) ?? null;
  }

  destroy() {
    this.closeMenu();
    this.dialog?.close();
    this.dialog?.remove();
  }

  // ---- the menu ----

  /** Opens the menu of message `seq` under `button`, its first item (or last) focused. */
  openMenu(button, seq, { last = false } = {}) {
    const wasOpen = this.button === button;
    this.closeMenu();
    if (wasOpen && !last) return;
    const m = this.message(seq);
    if (!m || m.deleted) return;
    this.button = button;
    this.seq = seq;
    this.popup = el('div', { class: 'msg-menu' });
    this.host.append(this.popup);
    this.showItems(m);
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', this.onOutside, true);
    this.scroller.addEventListener('scroll', this.onScroll, { passive: true });
    window.addEventListener('resize', this.onScroll);
    const items = this.items();
    (last ? items[items.length - 1] : items[0])?.focus();
  }

  /** The menu's items for message `m`. */
  showItems(m) {
    const mine = m.sender_id === this.me();
    const item = (text, run, attrs = {}) => el('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: 'menu-item', text, on: { click: run }, ...attrs,
    });
    const quick = QUICK_REACTIONS.map((key) => {
      const on = hasReacted(m.reactions, this.me(), key);
      return el('button', {
        type: 'button',
        role: 'menuitemcheckbox',
        'aria-checked': String(on),
        'aria-label': `React with ${key}`,
        tabindex: '-1',
        class: 'menu-item quick-reaction',
        text: key,
        on: { click: () => this.choose(() => this.toggleReaction(m.seq, key, !on)) },
      });
    });
    const menu = el('div', { role: 'menu', 'aria-label': 'Message actions', class: 'menu-list' },
      el('div', { role: 'group', 'aria-label': 'Quick reactions', class: 'quick-reactions' }, quick),
      item('Other reaction…', () => this.showReactionInput(m.seq)),
      item('Reply', () => this.choose(() => this.reply(m))),
      mine && item('Edit', () => this.choose(() => this.edit(m))),
      mine && item('Delete…', () => this.confirmDelete(m.seq), { class: 'menu-item danger' }));
    menu.addEventListener('keydown', (event) => this.menuKey(event));
    this.popup.replaceChildren(menu);
    this.place();
  }

  items() {
    return this.popup ? [...this.popup.querySelectorAll('[role^="menuitem"]')] : [];
  }

  menuKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const items = this.items();
    const i = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === 'ArrowDown' || event.key === 'ArrowRight') next = (i + 1) % items.length;
    else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') next = (i - 1 + items.length) % items.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = items.length - 1;
    else if (event.key === 'Escape') {
      // Not the app's Escape, which would close the chat.
      event.preventDefault();
      this.closeMenu({ focus: true });
      return;
    } else if (event.key === 'Tab') {
      // Back on its button: the Tab goes on from there.
      this.closeMenu({ focus: true });
      return;
    } else return;
    event.preventDefault();
    items[next]?.focus();
  }

  /** Closes the menu, then does `run`. */
  choose(run) {
    this.closeMenu({ focus: true });
    run();
  }

  /** Closes the menu; `focus` gives the focus back to its button. */
  closeMenu({ focus = false } = {}) {
    if (!this.popup) return;
    const button = this.button;
    this.popup.remove();
    this.popup = null;
    this.button = null;
    document.removeEventListener('pointerdown', this.onOutside, true);
    this.scroller.removeEventListener('scroll', this.onScroll);
    window.removeEventListener('resize', this.onScroll);
    button.setAttribute('aria-expanded', 'false');
    if (focus) {
      if (button.isConnected) button.focus();
      else this.focusLost();
    }
  }

  /** A change in the state: a menu whose message went, or was deleted, closes. */
  sync() {
    if (!this.popup) return;
    const m = this.message(this.seq);
    if (!m || m.deleted || !this.button.isConnected) this.closeMenu({ focus: this.popup.contains(document.activeElement) });
  }

  /** Puts the menu by its button, inside the window; closes it when the button scrolls away. */
  place() {
    if (!this.popup) return;
    const b = this.button.getBoundingClientRect();
    const view = this.scroller.getBoundingClientRect();
    if (!this.button.isConnected || b.bottom < view.top || b.top > view.bottom) {
      this.closeMenu();
      return;
    }
    const { width, height } = this.popup.getBoundingClientRect();
    let left = Math.min(b.left, window.innerWidth - width - EDGE_PX);
    left = Math.max(EDGE_PX, left);
    let top = b.bottom + 4;
    if (top + height > window.innerHeight - EDGE_PX) top = Math.max(EDGE_PX, b.top - height - 4);
    // Through the CSSOM: the policy forbids inline style attributes.
    this.popup.style.left = `${Math.round(left)}px`;
    this.popup.style.top = `${Math.round(top)}px`;
  }

  /** In place of the items: a box to type any reaction in. */
  showReactionInput(seq) {
    const input = el('input', {
      id: 'reaction-input', type: 'text', autocomplete: 'off', enterkeyhint: 'done', 'aria-describedby': 'reaction-error',
    });
    const error = el('p', { id: 'reaction-error', class: 'reaction-error', hidden: true });
    const form = el('form', { class: 'reaction-form' },
      el('label', { for: 'reaction-input', text: 'Reaction (an emoji, or a word)' }),
      el('div', { class: 'reaction-form-row' }, input,
        el('button', { type: 'submit', class: 'button primary', text: 'Add' })),
      error);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = input.value.trim();
      const why = reactionKeyError(key);
      if (why) {
        error.textContent = why;
        error.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      this.closeMenu({ focus: true });
      this.toggleReaction(seq, key, true);
    });
    form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        this.closeMenu({ focus: true });
      }
    });
    this.popup.replaceChildren(form);
    this.place();
    input.focus();
  }

  // ---- the requests ----

  /** Sends a command; says the result, or shows why it was refused (and returns that). */
  async act(frame, done, verb) {
    try {
      const answer = await this.request({ ...frame, conversation_id: this.conversationId });
      this.announce(done(answer));
      return null;
    } catch (e) {
      const why = actionRefusal(e, verb);
      this.showError(why);
      return why;
    }
  }

  toggleReaction(seq, key, on) {
    return this.act({ type: 'react', seq, key, on },
      (answer) => ((answer.on ?? on) ? 'Reaction added' : 'Reaction removed'), 'react to');
  }

  remove(seq) {
    return this.act({ type: 'delete', seq }, () => 'Message deleted', 'delete');
  }

  editMessage(seq, body) {
    return this.act({ type: 'edit', seq, body }, () => 'Message edited', 'edit');
  }

  // ---- the confirmation ----

  /** Asks before deleting message `seq`, in a modal dialog; Cancel is the default. */
  confirmDelete(seq) {
    const m = this.message(seq);
    const returnTo = this.button;
    this.closeMenu();
    if (!m) return;
    this.dialog?.remove();
    const cancel = el('button', { type: 'button', class: 'button ghost', text: 'Cancel' });
    const confirm = el('button', { type: 'button', class: 'button danger', text: 'Delete' });
    const dialog = el('dialog', {
      class: 'confirm-dialog', 'aria-labelledby': 'delete-title', 'aria-describedby': 'delete-what',
    },
    el('h2', { id: 'delete-title', text: 'Delete this message?' }),
    el('p', { id: 'delete-what', class: 'muted', text: 'It goes for both of you, with its reactions. This cannot be undone.' }),
    el('blockquote', { class: 'delete-preview', text: snippet(summary(m)) }),
    el('div', { class: 'dialog-actions' }, cancel, confirm));
    this.dialog = dialog;
    const finish = (deleting) => {
      if (!dialog.open) return;
      dialog.close();
      dialog.remove();
      if (this.dialog === dialog) this.dialog = null;
      if (returnTo?.isConnected) returnTo.focus();
      else this.focusLost();
      if (deleting) this.remove(seq);
    };
    cancel.addEventListener('click', () => finish(false));
    confirm.addEventListener('click', () => finish(true));
    dialog.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        // Closed here, so that the app's Escape does not close the chat as well.
        event.preventDefault();
        finish(false);
      }
    });
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    this.host.append(dialog);
    dialog.showModal();
    cancel.focus();
  }
}
