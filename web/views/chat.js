// One conversation: the messages grouped by day, my own with their state (sending,
// sent, "Seen" once the receipt came), an unread divider, the peer's presence and
// typing, older messages on scrolling up, and the message box.
//
// Each message node is built once, keyed by its txn_id (mine, so the pending copy
// becomes the stored one without a flicker) or its seq, and then only moved or
// updated: the log never re-renders whole, and screen readers hear only what is new.

import { avatar, el, handle, linkify, matrixBadge } from '../lib/dom.js';
import { groupByDay, timeLabel } from '../lib/time.js';
import { Composer } from './composer.js';
import { failedSend } from './failed-send.js';
import { backIcon } from './sidebar.js';

const HISTORY_PAGE = 30;
/** Close enough to the bottom to follow new messages. */
const STICK_PX = 48;
/** Close enough to the top to load older messages. */
const LOAD_OLDER_PX = 240;

export class ChatView {
  /**
   * `sendQueue` is read for my sends not stored yet (their pending copies); the
   * view acts through `send(body)`, which queues a message, and `retry(txnId)`;
   * `loadOlder(beforeSeq, limit)` asks for history (resolves when applied);
   * `typing(isTyping)` tells the peer; `navigate(path)`, `back()` move around.
   */
  constructor({ state, sendQueue, conversationId, send, retry, loadOlder, typing, navigate, back }) {
    Object.assign(this, { state, sendQueue, id: conversationId, retry, loadOlderFn: loadOlder, navigate, back });
    this.nodes = new Map();
    this.loadingOlder = false;
    const c = this.conversation();
    this.dividerAfter = c.unread > 0 ? c.last_read_seq : null;

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

    this.top = el('div', { class: 'timeline-top', dataset: { key: 'top' } });
    this.log = el('div', {
      class: 'timeline',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': `Messages with ${c.peer.display_name}`,
      tabindex: '0',
    });
    this.log.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.typingEl = el('div', { class: 'typing-indicator', 'aria-live': 'polite' });

    this.composer = new Composer({ send, typing });
    this.element = el('section', { class: 'chat', 'aria-label': `Chat with ${c.peer.display_name}`, dataset: { conversationId: String(this.id) } },
      header, this.log, this.typingEl, this.composer.element);
    this.updateHeader();
    this.updateTimeline({ stick: true });
  }

  conversation() {
    return this.state.conversations.get(this.id);
  }

  focus() {
    this.composer.focus();
  }

  destroy() {
    this.composer.destroy();
  }

  /** A change in the state: redraw what it touches. */
  update(change) {
    if (change.kind === 'presence' || change.kind === 'profile') this.updateHeader();
    if (change.conversationId !== undefined && change.conversationId !== this.id) return;
    if (change.kind === 'typing') this.updateHeader();
    if (change.kind === 'messages' || change.kind === 'outbox') this.updateTimeline({});
    if (change.kind === 'conversations') {
      const c = this.conversation();
      // Unread arriving while I am not looking (hidden tab) starts a divider; in a
      // visible chat it is read at once and needs none.
      if (this.dividerAfter === null && c.unread > 0 && document.visibilityState !== 'visible') {
        this.dividerAfter = c.last_read_seq;
        this.updateTimeline({});
      }
    }
  }

  updateHeader() {
    const c = this.conversation();
    const presence = this.state.presence(c.peer.id);
    const online = presence === 'online';
    const typing = this.state.isTyping(this.id);
    this.nameEl.textContent = c.peer.display_name;
    this.usernameEl.textContent = handle(c.peer);
    this.badgeEl.replaceChildren(...[matrixBadge(c.peer)].filter(Boolean));
    this.statusEl.textContent = typing ? 'typing…' : presence === 'unknown' ? 'waiting for connection' : presence;
    this.statusEl.className = `presence ${typing ? 'is-typing' : `is-${presence}`}`;
    this.avatarWrap.className = `avatar-wrap${online ? ' online' : ''}`;
    this.avatarWrap.replaceChildren(avatar(c.peer), el('span', { class: 'presence-dot', 'aria-hidden': 'true' }));
    this.typingEl.replaceChildren(...(typing
      ? [el('span', { class: 'dots', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')), `${c.peer.display_name} is typing…`]
      : []));
    this.typingEl.classList.toggle('shown', typing);
  }

  /** The items the log should show, in order: day separators, the divider, messages. */
  items() {
    const c = this.conversation();
    const me = this.state.me.id;
    const stored = this.state.messages(this.id).map((m) => ({ kind: 'message', message: m, mine: m.sender_id === me }));
    const storedTxns = new Set(stored.filter((i) => i.mine && i.message.txn_id).map((i) => i.message.txn_id));
    const pending = this.sendQueue.pending(this.id)
      .filter((p) => !storedTxns.has(p.txn_id))
      .map((p) => ({ kind: 'pending', message: p, mine: true }));
    const all = [...stored, ...pending];
    const items = [];
    let dividerPlaced = false;
    for (const group of groupByDay(all, (i) => i.message.created_at)) {
      // Keyed by its label too: after midnight "Today" becomes "Yesterday".
      items.push({ key: `d${group.day}:${group.label}`, kind: 'day', label: group.label });
      let previous = null;
      for (const item of group.items) {
        const m = item.message;
        if (!dividerPlaced && this.dividerAfter !== null && item.kind === 'message' && !item.mine && m.seq > this.dividerAfter) {
          items.push({ key: 'unread', kind: 'divider' });
          dividerPlaced = true;
          previous = null;
        }
        item.key = m.txn_id && item.mine ? `t${m.txn_id}` : `s${m.seq}`;
        item.continues = previous !== null && previous.mine === item.mine &&
          new Date(m.created_at) - new Date(previous.message.created_at) < 5 * 60_000;
        if (previous) previous.followed = item.continues;
        items.push(item);
        previous = item;
      }
    }
    // Which of my messages says its state out loud: the last stored one, and every
    // one not stored yet.
    const lastMine = [...items].reverse().find((i) => i.kind === 'message' && i.mine);
    for (const item of items) {
      if (!item.mine) continue;
      if (item.kind === 'pending') {
        item.status = item.message.state === 'failed' ? 'failed' : 'sending';
        item.showStatus = true;
      } else {
        item.status = item.message.seq <= c.peer_last_read_seq ? 'seen' : 'sent';
        item.showStatus = item === lastMine;
      }
    }
    return items;
  }

  updateTimeline({ stick = false }) {
    const log = this.log;
    const fromBottom = log.scrollHeight - log.scrollTop;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < STICK_PX;
    const items = this.items();
    const messages = this.state.messages(this.id);
    const complete = messages.length === 0 || messages[0].seq <= 1;
    // Redrawn only when it changes: the log is live, and a screen reader would read
    // a replaced node out again.
    const top = complete ? 'beginning' : this.loadingOlder ? 'loading' : 'more';
    if (this.top.dataset.state !== top) {
      const c = this.conversation();
      this.top.dataset.state = top;
      this.top.replaceChildren(complete
        ? el('div', { class: 'beginning' }, avatar(c.peer, 'large'),
          el('p', { class: 'name', text: c.peer.display_name }),
          el('p', { class: 'muted', text: `This is the beginning of your conversation with ${handle(c.peer)}.` }))
        : el('div', { class: 'loading-older', text: this.loadingOlder ? 'Loading earlier messages…' : '' }));
    }

    const wanted = [this.top];
    const keys = new Set(['top']);
    let addedMine = false;
    for (const item of items) {
      keys.add(item.key);
      let node = this.nodes.get(item.key);
      if (!node) {
        node = this.build(item);
        this.nodes.set(item.key, node);
        if (item.mine && item.kind === 'pending') addedMine = true;
      }
      if (item.kind === 'message' || item.kind === 'pending') this.refresh(node, item);
      wanted.push(node);
    }
    for (const [key, node] of this.nodes) {
      if (!keys.has(key)) {
        node.remove();
        this.nodes.delete(key);
      }
    }
    if (!this.top.isConnected) log.prepend(this.top);
    wanted.forEach((node, index) => {
      if (log.children[index] !== node) log.insertBefore(node, log.children[index] ?? null);
    });

    if (this.loadingOlder) log.scrollTop = log.scrollHeight - fromBottom;
    else if (stick || atBottom || addedMine) log.scrollTop = log.scrollHeight;
    if (!complete && log.scrollHeight <= log.clientHeight + LOAD_OLDER_PX) this.loadOlder();
  }

  build(item) {
    if (item.kind === 'day') {
      return el('div', { class: 'day', role: 'separator' }, el('span', { text: item.label }));
    }
    if (item.kind === 'divider') {
      return el('div', { class: 'unread-divider', role: 'separator' }, el('span', { text: 'Unread messages' }));
    }
    const m = item.message;
    const meta = el('span', { class: 'meta' },
      el('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString(), text: timeLabel(m.created_at) }));
    return el('div', { class: `msg ${item.mine ? 'mine' : 'theirs'}` },
      el('div', { class: 'bubble' }, el('p', { class: 'text' }, linkify(m.body)), meta));
  }

  /** Updates what can change on a message: its state and its place in a run. */
  refresh(node, item) {
    node.dataset.key = item.key;
    if (item.kind === 'message') node.dataset.seq = String(item.message.seq);
    node.classList.toggle('continues', Boolean(item.continues));
    node.classList.toggle('followed', Boolean(item.followed));
    if (!item.mine) return;
    if (node.dataset.status === item.status && node.dataset.shown === String(item.showStatus)) return;
    node.dataset.status = item.status;
    node.dataset.shown = String(item.showStatus);
    const meta = node.querySelector('.meta');
    meta.querySelector('.status')?.remove();
    node.querySelector('.failed-send')?.remove();
    const label = { sending: 'Sending…', sent: 'Sent', seen: 'Seen', failed: 'Not sent' }[item.status];
    meta.append(el('span', { class: `status ${item.status}${item.showStatus ? '' : ' quiet'}`, title: label },
      item.showStatus ? label : el('span', { class: 'visually-hidden', text: label })));
    if (item.status === 'failed') {
      node.querySelector('.bubble').append(failedSend(item.message, { retry: this.retry, sendQueue: this.sendQueue, composer: this.composer }));
    }
  }

  onScroll() {
    if (this.log.scrollTop < LOAD_OLDER_PX) this.loadOlder();
  }

  async loadOlder() {
    if (this.loadingOlder) return;
    const messages = this.state.messages(this.id);
    if (messages.length === 0 || messages[0].seq <= 1) return;
    // Set before the await: scroll events keep coming while the page loads.
    this.loadingOlder = true;
    try {
      await this.loadOlderFn(messages[0].seq, HISTORY_PAGE);
    } catch {
      // Offline: the next scroll, or the reconnect, tries again.
    } finally {
      this.loadingOlder = false;
    }
  }
}
