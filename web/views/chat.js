// One conversation: the header (the peer, their presence or typing), the timeline
// (views/timeline.js: the messages, where the chat opens, what has been seen), the
// typing line and the message box (views/composer.js) with its files on their way up
// (views/upload-tray.js). Files dropped anywhere on the chat are sent too.
//
// A change in the state reaches only the part it is about: presence and typing the
// header, messages and sends the timeline, which touches only the nodes that change.

import { avatar, el, handle, matrixBadge } from '../lib/dom.js';
import { Composer } from './composer.js';
import { ComposerMode } from './composer-mode.js';
import { failedSend } from './failed-send.js';
import { MessageActions } from './message-actions.js';
import { backIcon } from './sidebar.js';
import { Timeline } from './timeline.js';
import { UploadTray } from './upload-tray.js';

export class ChatView {
  /**
   * `sendQueue` is read for my sends not stored yet (their pending copies); the
   * view acts through `send(body)`, which queues a message, and `retry(txnId)`;
   * `loadOlder(beforeSeq, limit)` asks for history (resolves when applied);
   * `typing(isTyping)` tells the peer; `navigate(path)`, `back()` move around.
   * `readUpTo` is my read marker as this client knows it; `onSeen()` says the reader
   * has seen further, up to `seenUpTo()`. Replies, edits, deletes and reactions:
   * `send(body, replyTo)`, `request(frame)` (a socket command, resolving with its
   * answer), `announce(text)` (the page's status region). Files: `uploads`
   * (lib/uploads.js), which sends each as a message once it is up.
   */
  constructor({ state, sendQueue, conversationId, readUpTo, send, retry, loadOlder, typing, navigate, back, onSeen, request, announce, uploads }) {
    Object.assign(this, { state, id: conversationId, navigate, back, uploads });
    const c = this.conversation();

    this.nameEl = el('span', { class: 'name' });
    this.usernameEl = el('span', { class: 'username' });
    this.badgeEl = el('span', { class: 'badge-slot' });
    this.statusEl = el('span', { class: 'presence' });
    this.avatarWrap = el('span', { class: 'avatar-wrap' });
    const profileLink = el('a', {
      class: 'chat-peer',
      href: `/u/${c.peer.id}`,
      title: 'Profile',
      on: { click: (event) => { event.preventDefault(); this.navigate(`/u/${c.peer.id}`); } },
    }, this.avatarWrap, el('span', { class: 'chat-names' }, el('span', { class: 'chat-name-line' }, this.nameEl, this.badgeEl, this.usernameEl), this.statusEl));
    const header = el('header', { class: 'chat-header' },
      el('button', { type: 'button', class: 'icon-button back-button', 'aria-label': 'Back to conversations', on: { click: () => this.back() } }, backIcon()),
      profileLink);

    this.timeline = new Timeline({
      state,
      sendQueue,
      conversationId,
      readUpTo,
      loadOlder,
      onSeen,
      // Built when a send fails; by then the message box exists.
      failedNote: (entry) => failedSend(entry, { retry, sendQueue, composer: this.composer }),
      // Made below, with the log they follow.
      actions: {
        jumpTo: (seq) => this.jumpTo(seq),
        openMenu: (button, seq, options) => this.actions.openMenu(button, seq, options),
        toggleReaction: (seq, key, on) => this.actions.toggleReaction(seq, key, on),
        focusLost: () => this.composer.focus(),
      },
    });
    this.typingEl = el('div', { class: 'typing-indicator', 'aria-live': 'polite' });
    this.tray = new UploadTray({
      cancel: (key) => uploads.cancel(key),
      focusLost: () => this.composer.focus(),
    });
    this.composer = new Composer({
      send: (body) => this.mode.submit(body),
      typing,
      attach: (files) => this.attach(files),
      tray: this.tray.element,
    });
    const names = (id) => (id === state.me.id ? state.me.display_name : id === this.conversation().peer.id ? this.conversation().peer.display_name : 'Someone');
    this.mode = new ComposerMode({
      composer: this.composer,
      names,
      me: () => state.me.id,
      send: (body, replyTo) => {
        send(body, replyTo);
        // My own message is always shown, at the bottom.
        this.timeline.jumpToNewest();
      },
      saveEdit: (seq, body) => this.actions.editMessage(seq, body),
      lastEditable: () => this.lastEditable(),
    });
    this.element = el('section', { class: 'chat', dataset: { conversationId: String(this.id) } },
      header, this.timeline.element, this.typingEl, this.composer.element);
    this.actions = new MessageActions({
      state,
      conversationId,
      host: this.element,
      scroller: this.timeline.log,
      request,
      announce,
      showError: (text) => this.composer.showError(text),
      reply: (message) => this.mode.reply(message),
      edit: (message) => this.mode.edit(message),
      focusLost: () => this.composer.focus(),
    });
    // R on a message's controls (its menu button, quote or reactions) replies to it.
    this.timeline.log.addEventListener('keydown', (event) => {
      if (event.key !== 'r' || event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
      const seq = Number(event.target.closest?.('.msg[data-seq]')?.dataset.seq);
      const message = seq ? this.conversation().messages.get(seq) : null;
      if (!message || message.deleted || message.kind === 'notice') return;
      event.preventDefault();
      this.mode.reply(message);
    });
    this.element.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes('Files')) return;
      event.preventDefault();
      this.element.classList.add('dropping');
    });
    this.element.addEventListener('dragleave', (event) => {
      if (!this.element.contains(event.relatedTarget)) this.element.classList.remove('dropping');
    });
    this.element.addEventListener('drop', (event) => {
      this.element.classList.remove('dropping');
      const files = [...(event.dataTransfer?.files ?? [])];
      if (!files.length) return;
      event.preventDefault();
      this.attach(files);
    });
    this.shown = {};
    this.updateHeader();
    this.tray.update(uploads.pending(this.id));
  }

  /**
   * Uploads files, each to be its own message (a reply, if one was being written),
   * shown at the bottom like a send of mine.
   */
  attach(files) {
    if (!files.length) return;
    const replyTo = this.mode.takeReply();
    for (const file of files) this.uploads.add(this.id, file, replyTo);
    this.timeline.jumpToNewest();
  }

  conversation() {
    return this.state.conversations.get(this.id);
  }

  /** The view is in the page: the timeline can take its place. */
  mounted() {
    this.timeline.mount();
  }

  focus() {
    this.composer.focus();
  }

  seenUpTo() {
    return this.timeline.seenUpTo();
  }

  destroy() {
    this.actions.destroy();
    this.timeline.destroy();
    this.composer.destroy();
  }

  /** A change in the state: redraw what it touches. */
  update(change) {
    if (change.kind === 'presence' || change.kind === 'profile') this.updateHeader();
    if (change.kind === 'profile') this.timeline.render();
    if (change.conversationId !== undefined && change.conversationId !== this.id) return;
    if (change.kind === 'typing') this.updateHeader();
    if (change.kind === 'uploads') this.tray.update(this.uploads.pending(this.id));
    if (change.kind === 'messages' || change.kind === 'outbox') {
      this.timeline.render();
      this.actions.sync();
      this.mode.sync((seq) => this.conversation().messages.get(seq));
    }
  }

  /** My newest message that ↑ edits: stored, not deleted. */
  lastEditable() {
    const list = this.conversation().messages;
    for (let i = list.size - 1; i >= 0; i -= 1) {
      const m = list.at(i);
      if (m.sender_id === this.state.me.id && !m.deleted && m.kind !== 'notice') return m;
    }
    return null;
  }

  /** A quote was clicked: its message, or why it cannot be shown. */
  async jumpTo(seq) {
    if (await this.timeline.jumpTo(seq)) return;
    this.composer.showError('The message it replies to cannot be shown now.');
  }

  /** The header says who, whether they are online (or typing), and nothing it already says. */
  updateHeader() {
    const c = this.conversation();
    const peer = c.peer;
    const presence = this.state.presence(peer.id);
    const typing = this.state.isTyping(this.id);
    const status = typing ? 'typing' : presence;
    const shown = this.shown;
    // A snapshot brings a new object for the same person: compare what is shown.
    const who = [peer.display_name, handle(peer), Boolean(peer.matrix_id)].join('\n');
    const renamed = shown.who !== who;
    if (renamed) {
      shown.who = who;
      this.nameEl.textContent = peer.display_name;
      this.usernameEl.textContent = handle(peer);
      this.badgeEl.replaceChildren(...[matrixBadge(peer)].filter(Boolean));
      this.avatarWrap.replaceChildren(avatar(peer), el('span', { class: 'presence-dot', 'aria-hidden': 'true' }));
      this.element.setAttribute('aria-label', `Chat with ${peer.display_name}`);
      this.timeline.log.setAttribute('aria-label', `Messages with ${peer.display_name}`);
    }
    if (shown.presence !== presence) {
      shown.presence = presence;
      this.avatarWrap.classList.toggle('online', presence === 'online');
    }
    if (shown.status !== status) {
      shown.status = status;
      this.statusEl.textContent = typing ? 'typing…' : presence === 'unknown' ? 'waiting for connection' : presence;
      this.statusEl.className = `presence is-${status}`;
    }
    if (shown.typing !== typing || renamed) {
      shown.typing = typing;
      this.typingEl.replaceChildren(...(typing
        ? [el('span', { class: 'dots', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')), `${peer.display_name} is typing…`]
        : []));
      this.typingEl.classList.toggle('shown', typing);
    }
  }
}
