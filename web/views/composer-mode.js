// The message box when it is not writing a new message: replying to one (a compact
// quote of it above the box, with its author's name) or editing one of mine (the box
// holds its text, labelled "Edit message"; Enter saves). Escape cancels either; ↑ in
// an empty box edits my last message. A draft typed before an edit comes back after
// it; an edit is never kept as a draft.

import { el } from '../lib/dom.js';
import { summary } from '../lib/media.js';
import { snippet } from '../lib/reactions.js';

export class ComposerMode {
  /**
   * `composer` is the message box (views/composer.js); `names(id)` a person's name,
   * `me()` my id;
   * `send(body, replyTo)` queues a message; `saveEdit(seq, body)` resolves with null
   * once asked, or why it was refused; `lastEditable()` is my newest message that can
   * be edited, or null.
   */
  constructor({ composer, names, me, send, saveEdit, lastEditable }) {
    Object.assign(this, { composer, names, me, sendFn: send, saveEdit, lastEditable });
    /** null, { kind: 'reply', message } or { kind: 'edit', message, draft, keep }. */
    this.mode = null;
    this.title = el('strong', { class: 'context-title' });
    this.quote = el('span', { class: 'context-quote' });
    this.description = el('span', { id: 'message-context', class: 'context-body' }, this.title, this.quote);
    this.cancelButton = el('button', {
      type: 'button',
      class: 'icon-button context-cancel',
      on: { click: () => this.cancel({ focus: true }) },
    }, el('span', { 'aria-hidden': 'true', text: '✕' }));
    composer.context.append(el('span', { class: 'context-icon', 'aria-hidden': 'true' }), this.description, this.cancelButton);
    composer.contextDescription = this.description;
    composer.keyHook = (event) => this.key(event);
  }

  /** Escape cancels; ↑ in an empty box edits my last message. True when taken. */
  key(event) {
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey;
    if (!plain) return false;
    if (event.key === 'Escape' && this.mode) {
      this.cancel({ focus: true });
      return true;
    }
    if (event.key === 'ArrowUp' && !this.mode && this.composer.box.value === '') {
      const last = this.lastEditable();
      if (!last) return false;
      this.edit(last);
      return true;
    }
    return false;
  }

  /** Replies to `message`: its quote above the box. */
  reply(message) {
    if (this.mode?.kind === 'edit') this.cancel();
    this.mode = { kind: 'reply', message };
    const whom = message.sender_id === this.me() ? 'yourself' : this.names(message.sender_id);
    this.show('reply', `Replying to ${whom}`, snippet(summary(message)), 'Cancel reply');
    this.composer.focus();
  }

  /** Edits my `message`: its text in the box, the draft put aside. */
  edit(message) {
    if (this.mode) this.cancel();
    const composer = this.composer;
    composer.stopTyping();
    this.mode = { kind: 'edit', message, draft: composer.box.value, keep: composer.saveDraft, typing: composer.typingFn };
    // Whatever is typed now is the edit, not the draft, nor news for the peer.
    composer.saveDraft = () => {};
    composer.typingFn = () => {};
    composer.box.value = message.body;
    composer.changed();
    composer.label.textContent = 'Edit message';
    composer.sendButton.setAttribute('aria-label', 'Save');
    composer.sendButton.title = 'Save (Enter)';
    this.show('edit', 'Editing message', 'Enter saves, Escape cancels', 'Cancel editing');
    composer.focus();
    const end = composer.box.value.length;
    composer.box.setSelectionRange(end, end);
  }

  show(kind, title, quote, cancelLabel) {
    const context = this.composer.context;
    context.dataset.kind = kind;
    this.title.textContent = title;
    this.quote.textContent = quote;
    this.cancelButton.setAttribute('aria-label', cancelLabel);
    this.cancelButton.title = `${cancelLabel} (Escape)`;
    context.hidden = false;
    this.composer.describe();
  }

  /** Back to a new message; an edit gives the draft back. */
  cancel({ focus = false } = {}) {
    const mode = this.mode;
    if (!mode) return;
    this.mode = null;
    const composer = this.composer;
    composer.context.hidden = true;
    delete composer.context.dataset.kind;
    if (mode.kind === 'edit') {
      composer.saveDraft = mode.keep;
      composer.typingFn = mode.typing;
      composer.box.value = mode.draft;
      composer.label.textContent = 'Message';
      composer.sendButton.setAttribute('aria-label', 'Send');
      composer.sendButton.title = 'Send (Enter)';
      composer.changed();
    }
    composer.describe();
    if (focus) composer.focus();
  }

  /** Files attached now answer the message being replied to, if any: its seq, or null. */
  takeReply() {
    if (this.mode?.kind !== 'reply') return null;
    const { seq } = this.mode.message;
    this.cancel();
    return seq;
  }

  /** The box's Enter: a reply, an edit saved, or a new message. */
  async submit(body) {
    const mode = this.mode;
    if (mode?.kind === 'edit') {
      const { message } = mode;
      this.cancel({ focus: true });
      if (body === message.body) return;
      const refused = await this.saveEdit(message.seq, body);
      if (refused && !this.mode && refused !== 'This message was deleted.') {
        // Not saved: the edit comes back, to be tried again or cancelled.
        this.edit({ ...message, body });
        this.composer.showError(refused);
      }
      return;
    }
    const replyTo = mode?.kind === 'reply' ? mode.message.seq : null;
    this.cancel();
    this.sendFn(body, replyTo);
  }

  /** A change in the state: the message being edited may have been deleted meanwhile. */
  sync(messageOf) {
    if (this.mode?.kind !== 'edit') return;
    const held = messageOf(this.mode.message.seq);
    if (held?.deleted) {
      this.cancel();
      this.composer.showError('The message you were editing was deleted.');
    }
  }
}
