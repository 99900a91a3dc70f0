// The log of one conversation: a slice of its messages as nodes, where it opens,
// what it tells the app the reader has seen, and the "New messages" pill.
//
// - **A slice, not the history.** The state holds every message loaded; the log
//   holds at most `MAX_NODES` of them as nodes (about `FEW_NODES` while scrolling),
//   from `from` to `to` by seq (or to the newest, `atEnd`). Scrolling near an end
//   grows the slice that way by `STEP` messages at a time, between frames (from the
//   state, or the server's `history` when the state has nothing older), and drops as
//   much from the other end; the reader's view is held still by anchoring on the
//   message at its top, never by scrollHeight arithmetic.
// - **Built once, updated by key.** A change to the state recomputes the slice's
//   items (lib/timeline-items.js, bounded by the slice) and writes only what differs
//   from what each node shows: a new message adds its node, a receipt changes the
//   status of the messages it passes, nothing else is touched.
// - **Where it opens.** At the unread divider, loading history up to it if need be,
//   or at the newest; it follows new messages while the reader is at the bottom, and
//   shows the pill instead of moving when they are not.
// - **Seen means on screen.** An IntersectionObserver watches the end (the time
//   line) of each of the peer's messages above the highest seen so far; the highest
//   one wholly on screen while the tab is visible is what `seenUpTo()` reports and
//   `onSeen` announces. Nothing that was never on screen is ever reported.
// - **Screen readers.** The log is `role=log` (polite): a new message is read out with
//   who sent it and when (a visually hidden prefix; a notice as the Matrix bridge's),
//   the status once in words, never the ✓ glyphs. While older messages come or go it is `aria-busy`, so history is
//   not read out as new.

import { avatar, el, handle } from '../lib/dom.js';
import { fullLabel, timeLabel } from '../lib/time.js';
import { timelineItems } from '../lib/timeline-items.js';
import { refreshRich } from './message-parts.js';

/** The newest messages a chat opens with, or jumps back to. */
const OPENING = 40;
/**
 * Messages added to the slice at a time while scrolling. A page of 40 laid out at once
 * made the longest frame of a scroll through history 33 ms, one of 10 19 ms
 * (BENCHMARKS.md, issue 20); the slice grows again at the next idle moment if need be.
 */
const STEP = 10;
/** Fewer older messages than this held above the slice: the next page is asked ahead. */
const AHEAD = 40;
/** The most messages the log holds as nodes, whatever the length of the history. */
const MAX_NODES = 120;
/**
 * The fewest it keeps while scrolling, where that covers the view: every node in the
 * log is painted again when older messages go in above it, so a frame that grows the
 * slice costs by the size of the log (BENCHMARKS.md, issue 20).
 */
const FEW_NODES = 60;
/** Read messages kept above the unread divider when a chat opens at it. */
const CONTEXT = 10;
/** The page asked of the server: its largest, so that scrolling waits on few requests. */
const HISTORY_MAX = 100;
/** Close enough to the bottom to follow new messages. */
const STICK_PX = 48;
/** Close enough to an end of the slice to grow it that way. */
const EDGE_PX = 600;
/** The longest the slice waits for the page to be idle before it grows. */
const GROW_WAIT_MS = 50;
/** Room left above the divider when a chat opens at it. */
const DIVIDER_MARGIN_PX = 8;
/**
 * How long the log stays `aria-busy` after older messages came or went: long enough
 * for the accessibility tree to take the change in while busy.
 */
const BUSY_MS = 400;
/** The part of a message's time line on screen for it to count as seen. */
const SEEN_RATIO = 0.9;

const STATUS_WORDS = { sending: 'Sending…', sent: 'Sent', seen: 'Seen', failed: 'Not sent' };
/** Who writes a notice (`kind: "notice"`): the bridge, in the Matrix member's name. */
const NOTICE_FROM = 'Matrix bridge';

export class Timeline {
  /**
   * `readUpTo`: my read marker as far as this client knows (it may have asked for
   * more than the server has confirmed); `sendQueue.pending(id)` gives my sends not
   * stored yet; `retry(txnId)` sends a failed one again; `loadOlder(beforeSeq, limit)`
   * asks for history and resolves once the state holds it; `onSeen()` says that the
   * reader has seen further (read `seenUpTo()`).
   */
  constructor({ state, sendQueue, conversationId, readUpTo, loadOlder, onSeen, failedNote, actions = null }) {
    // `actions`: what a message's quote, menu and reactions do (views/message-parts.js).
    Object.assign(this, { state, sendQueue, id: conversationId, loadOlderFn: loadOlder, onSeen, failedNote, actions });
    const c = this.conversation();
    /** key → what its node shows: `{ node, kind, seq, … }` (see `build`). */
    this.rendered = new Map();
    /** The seqs of the peer's messages whose time line is on screen now. */
    this.onscreen = new Set();
    /** The highest of them seen while the tab was visible. */
    this.seenMax = 0;
    this.readUpTo = c.unread > 0 ? readUpTo : Math.max(readUpTo, c.last_seq);
    this.dividerAfter = c.unread > 0 ? readUpTo : null;
    this.from = null;
    this.to = null;
    this.atEnd = true;
    this.follow = true;
    /** Positioned where it opens: only then do scrolling and seeing count. */
    this.settled = false;
    this.mounted = false;
    this.opening = false;
    this.loadingOlder = false;
    /** A growth of the slice is waiting for the page to be idle. */
    this.growing = false;
    this.destroyed = false;
    this.lastSeq = c.messages.last()?.seq ?? 0;

    this.top = el('div', { class: 'timeline-top' });
    this.log = el('div', {
      class: 'timeline',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': `Messages with ${c.peer.display_name}`,
      tabindex: '0',
    }, this.top);
    this.pill = el('button', {
      type: 'button',
      class: 'new-messages',
      hidden: true,
      on: { click: () => this.jumpToNewest({ focus: true }) },
    }, 'New messages ', el('span', { 'aria-hidden': 'true', text: '↓' }));
    this.element = el('div', { class: 'timeline-wrap' }, this.log, this.pill);

    this.log.addEventListener('scroll', () => this.check(), { passive: true });
    this.seqOf = new WeakMap();
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), {
      root: this.log,
      threshold: [0, SEEN_RATIO],
    });
    // A log that shrinks (the message box grows, the window turns) keeps its bottom.
    this.resizer = new ResizeObserver(() => {
      this.catchUp();
      if (this.settled && this.follow) this.scrollToBottom();
    });
    this.resizer.observe(this.log);

    if (this.mustLoadToDivider()) this.openAtDivider();
    else this.openingSlice();
    this.render();
  }

  conversation() {
    return this.state.conversations.get(this.id);
  }

  list() {
    return this.conversation().messages;
  }

  /** The log is in the page: take the place it opens at. */
  mount() {
    this.mounted = true;
    if (!this.opening) this.position();
  }

  destroy() {
    this.destroyed = true;
    this.observer.disconnect();
    this.resizer.disconnect();
    clearTimeout(this.busyTimer);
    cancelAnimationFrame(this.checkFrame);
  }

  /** The highest seq of the peer's that has been on screen while the tab was visible. */
  seenUpTo() {
    this.refreshSeen();
    return this.seenMax;
  }

  // ---- where it opens ----

  /** The first unread message is not held yet: history must come first. */
  mustLoadToDivider() {
    if (this.dividerAfter === null) return false;
    const first = this.list().first();
    if (!first) return this.conversation().last_seq > 0;
    return first.seq > this.dividerAfter + 1 && first.seq > 1;
  }

  /** Loads history up to the first unread message, then opens there. */
  async openAtDivider() {
    this.opening = true;
    this.loadingOlder = true;
    const list = this.list();
    try {
      while (this.mustLoadToDivider()) {
        const before = list.first()?.seq ?? this.conversation().last_seq + 1;
        await this.loadOlderFn(before, HISTORY_MAX);
        if (this.destroyed) return;
        if ((list.first()?.seq ?? Infinity) >= before) break;
      }
    } catch {
      // Offline: it opens at the oldest message held, the divider as far up as known.
    }
    if (this.destroyed) return;
    this.opening = false;
    this.loadingOlder = false;
    this.openingSlice();
    this.busy();
    this.render();
    if (this.mounted) this.position();
  }

  /** The slice a chat opens with: around the first unread message, else the newest. */
  openingSlice() {
    const size = this.list().size;
    const unread = this.firstUnreadIndex();
    if (unread >= 0) {
      const lo = Math.max(0, unread - CONTEXT);
      this.setSlice(lo, Math.min(size, lo + MAX_NODES));
    } else {
      this.setSlice(Math.max(0, size - OPENING), size);
    }
  }

  /** Scrolls to the divider, or to the bottom, and starts counting what is seen. */
  position() {
    const divider = this.rendered.get('unread')?.node;
    if (divider) this.log.scrollTop = divider.offsetTop - DIVIDER_MARGIN_PX;
    else this.scrollToBottom();
    this.settled = true;
    this.check();
  }

  /** The index of the peer's first message past the divider's marker, or -1. */
  firstUnreadIndex() {
    if (this.dividerAfter === null) return -1;
    return this.firstPeerIndexAfter(this.dividerAfter);
  }

  firstPeerIndexAfter(seq) {
    const list = this.list();
    const me = this.state.me.id;
    for (let i = list.lowerBound(seq + 1); i < list.size; i += 1) {
      if (list.at(i).sender_id !== me) return i;
    }
    return -1;
  }

  // ---- the slice ----

  /** Sets the slice to the messages at indices `lo` up to, not including, `hi`. */
  setSlice(lo, hi) {
    const list = this.list();
    this.from = list.at(lo)?.seq ?? null;
    this.atEnd = hi >= list.size;
    this.to = this.atEnd ? null : list.at(hi - 1).seq;
  }

  /** The slice as indices into the held messages: `[lo, hi)`. */
  bounds() {
    const list = this.list();
    if (this.opening) return [list.size, list.size];
    const lo = this.from === null ? 0 : list.lowerBound(this.from);
    const hi = this.atEnd ? list.size : list.lowerBound(this.to + 1);
    return [lo, hi];
  }

  /** Near the top: older messages from the state, or from the server. True if any. */
  growUp() {
    const list = this.list();
    const [lo, hi] = this.bounds();
    const first = list.at(lo);
    if (!first) return false;
    const above = list.at(lo - 1);
    if (!above || above.seq < first.seq - 1) {
      if (first.seq <= 1) return false;
      this.fetchOlder(first.seq);
      return true;
    }
    const newLo = Math.max(0, lo - STEP);
    this.moveSlice(newLo, Math.min(hi, newLo + this.sliceLimit()));
    // Running short of older messages held: the next page is asked for ahead.
    const oldest = list.first();
    if (newLo < AHEAD && oldest.seq > 1) this.fetchOlder(oldest.seq);
    return true;
  }

  /** Near the bottom of a slice that stops short of the newest: newer messages. */
  growDown() {
    if (this.atEnd) return false;
    const [lo, hi] = this.bounds();
    const newHi = Math.min(this.list().size, hi + STEP);
    this.moveSlice(Math.max(lo, newHi - this.sliceLimit()), newHi);
    return true;
  }

  /**
   * The messages a slice that is scrolled through holds: `FEW_NODES`, or more when
   * their height would not span the view and an edge's reach above and below it (a
   * tall window, short messages), up to `MAX_NODES`.
   */
  sliceLimit() {
    const log = this.log;
    const perNode = log.scrollHeight / Math.max(1, this.rendered.size);
    const span = 1.5 * (log.clientHeight + 2 * EDGE_PX);
    return Math.min(MAX_NODES, Math.max(FEW_NODES, Math.ceil(span / Math.max(1, perNode))));
  }

  moveSlice(lo, hi) {
    this.busy();
    this.setSlice(lo, hi);
    this.render();
    // Still near an end (short messages): it grows again.
    this.scheduleCheck();
  }

  async fetchOlder(before) {
    if (this.loadingOlder) return;
    // Set before the await: scroll events keep coming while the page loads.
    this.loadingOlder = true;
    this.renderTop();
    let answered = true;
    try {
      await this.loadOlderFn(before, HISTORY_MAX);
    } catch {
      // Offline: the next scroll, or the reconnect, tries again.
      answered = false;
    }
    this.loadingOlder = false;
    if (this.destroyed) return;
    this.renderTop();
    if (answered) this.scheduleCheck();
  }

  /** Shows the newest messages and stays with them (the pill, or a send of mine). */
  jumpToNewest({ focus = false } = {}) {
    if (!this.atEnd) {
      const size = this.list().size;
      this.busy();
      this.setSlice(Math.max(0, size - OPENING), size);
    }
    this.follow = true;
    this.pill.hidden = true;
    this.render();
    this.scrollToBottom();
    // The pill is gone: the focus goes where the reader now is.
    if (focus) this.log.focus({ preventScroll: true });
  }

  scrollToBottom() {
    this.log.scrollTop = this.log.scrollHeight;
    this.seenTop = this.log.scrollTop;
  }

  /**
   * A scroll whose event has not come yet (it comes with the next frame) is taken in
   * now: a message or a resize in between would otherwise find the log still
   * following and pull the reader back to the bottom.
   */
  catchUp() {
    if (this.settled && this.log.scrollTop !== this.seenTop) this.check();
  }

  /** After a scroll: following or not, and whether the slice should grow. */
  check() {
    const log = this.log;
    this.seenTop = log.scrollTop;
    const fromBottom = log.scrollHeight - log.scrollTop - log.clientHeight;
    this.follow = this.atEnd && fromBottom < STICK_PX;
    if (this.follow) this.pill.hidden = true;
    if (!this.settled || this.opening) return;
    if (log.scrollTop < EDGE_PX || fromBottom < EDGE_PX) this.scheduleGrow();
  }

  /**
   * Grows the slice between frames rather than in the scroll's own: building a step of
   * messages and laying them out took 4 of the 10 ms a growing frame cost, on top of
   * painting the log again (BENCHMARKS.md, issue 20). The frame that shows them still
   * paints them; the view is held still before it does.
   */
  scheduleGrow() {
    if (this.growing) return;
    this.growing = true;
    const grow = () => {
      this.growing = false;
      if (!this.destroyed) this.grow();
    };
    if (window.requestIdleCallback) requestIdleCallback(grow, { timeout: GROW_WAIT_MS });
    else setTimeout(grow, 0);
  }

  /** Near an end of the slice: grows it that way. */
  grow() {
    this.catchUp();
    const log = this.log;
    const fromBottom = log.scrollHeight - log.scrollTop - log.clientHeight;
    if (log.scrollTop < EDGE_PX && this.growUp()) return;
    if (fromBottom < EDGE_PX) this.growDown();
  }

  scheduleCheck() {
    if (this.checkFrame) return;
    this.checkFrame = requestAnimationFrame(() => {
      this.checkFrame = 0;
      if (!this.destroyed) this.check();
    });
  }

  /** Older messages come or go: not news to a screen reader. */
  busy() {
    this.log.setAttribute('aria-busy', 'true');
    clearTimeout(this.busyTimer);
    this.busyTimer = setTimeout(() => this.log.removeAttribute('aria-busy'), BUSY_MS);
  }

  // ---- drawing ----

  /** Brings the nodes in line with the state, holding the reader's view still. */
  render() {
    this.catchUp();
    const anchor = this.settled && !this.follow ? this.anchor() : null;
    const arrived = this.draw();
    if (anchor) this.restore(anchor);
    if (!this.settled) return;
    if (this.follow) this.scrollToBottom();
    else if (arrived) this.pill.hidden = false;
  }

  /** Redraws the slice; true when messages newer than any before have arrived. */
  draw() {
    const c = this.conversation();
    const list = c.messages;
    let [lo, hi] = this.bounds();
    if (hi - lo > MAX_NODES) {
      // New messages grew the slice: at the bottom the oldest go, else the newest wait.
      if (this.follow) lo = hi - MAX_NODES;
      else hi = lo + MAX_NODES;
      this.setSlice(lo, hi);
    }
    if (this.from === null && hi > lo) this.from = list.at(lo).seq;
    const newest = list.last()?.seq ?? 0;
    const arrived = newest > this.lastSeq;
    this.lastSeq = Math.max(this.lastSeq, newest);
    this.startDivider();
    const unread = this.firstUnreadIndex();
    const items = timelineItems({
      messages: list.slice(lo, hi),
      pending: this.atEnd && !this.opening ? this.sendQueue.pending(this.id) : [],
      me: this.state.me.id,
      dividerBefore: unread >= 0 ? list.at(unread).seq : null,
      peerReadUpTo: c.peer_last_read_seq,
      lastMineSeq: this.lastMineSeq(),
    });
    this.rich = this.richContext();
    this.reconcile(items);
    this.renderTop(lo);
    return arrived;
  }

  /**
   * Unread messages the reader is not looking at (scrolled up, or the tab hidden)
   * start a divider above them; at the bottom of a visible chat they are seen at once.
   */
  startDivider() {
    if (this.dividerAfter !== null || !this.settled) return;
    if (this.follow && document.visibilityState === 'visible') return;
    // Read here, or on another device (the marker moved by a receipt of mine).
    const read = Math.max(this.readUpTo, this.seenMax, this.conversation().last_read_seq);
    if (this.firstPeerIndexAfter(read) >= 0) this.dividerAfter = read;
  }

  /** My newest stored message, whose state is said out loud; kept per length. */
  lastMineSeq() {
    const list = this.list();
    const newest = list.last()?.seq ?? 0;
    if (this.mine?.size === list.size && this.mine.newest === newest) return this.mine.seq;
    let seq = 0;
    for (let i = list.size - 1; i >= 0; i -= 1) {
      if (list.at(i).sender_id === this.state.me.id) {
        seq = list.at(i).seq;
        break;
      }
    }
    this.mine = { size: list.size, newest, seq };
    return seq;
  }

  /** Removes the nodes no item wants, adds the new ones in place, updates the rest. */
  reconcile(items) {
    const keys = new Set();
    for (const item of items) keys.add(item.key);
    for (const [key, rec] of this.rendered) {
      if (keys.has(key)) continue;
      rec.node.remove();
      if (rec.watched) this.unwatch(rec);
      this.rendered.delete(key);
    }
    let previous = this.top;
    for (const item of items) {
      let rec = this.rendered.get(item.key);
      if (rec) this.refresh(rec, item);
      else {
        rec = this.build(item);
        this.rendered.set(item.key, rec);
      }
      if (previous.nextSibling !== rec.node) this.log.insertBefore(rec.node, previous.nextSibling);
      previous = rec.node;
    }
  }

  /** The top of the log: the conversation's beginning, "loading", or room for more. */
  renderTop(lo = this.bounds()[0]) {
    const list = this.list();
    const first = list.first();
    const beginning = !this.opening && lo === 0 && (first ? first.seq <= 1 : this.conversation().last_seq === 0);
    // "Loading" only where the reader waits for it, not for a page asked ahead.
    const waiting = this.loadingOlder && (this.opening || lo === 0);
    const state = beginning ? 'beginning' : waiting ? 'loading' : 'more';
    // Redrawn only when it changes, and as history, not news: the log is live.
    if (this.top.dataset.state === state) return;
    if (this.top.dataset.state) this.busy();
    this.top.dataset.state = state;
    const peer = this.conversation().peer;
    this.top.replaceChildren(beginning
      ? el('div', { class: 'beginning' }, avatar(peer, 'large'),
        el('p', { class: 'name', text: peer.display_name }),
        el('p', { class: 'muted', text: `This is the beginning of your conversation with ${handle(peer)}.` }))
      : el('div', { class: 'loading-older', text: state === 'loading' ? 'Loading earlier messages…' : '' }));
  }

  build(item) {
    if (item.kind === 'day') {
      const node = el('div', { class: 'day', role: 'separator', 'aria-label': item.label }, el('span', { text: item.label }));
      return { node, kind: 'day' };
    }
    if (item.kind === 'divider') {
      const node = el('div', { class: 'unread-divider', role: 'separator', 'aria-label': 'Unread messages' },
        el('span', { text: 'Unread messages' }));
      return { node, kind: 'divider' };
    }
    const m = item.message;
    const who = el('span', { class: 'visually-hidden' });
    const time = el('time', { 'aria-hidden': 'true' });
    const meta = el('span', { class: 'meta' }, time);
    // A notice is the bridge's, not the peer's: it says so on its face (the hidden
    // prefix says it to screen readers, so the label is not read twice).
    const from = item.notice ? el('p', { class: 'notice-from', 'aria-hidden': 'true', text: NOTICE_FROM }) : null;
    const side = item.notice ? 'theirs notice' : item.mine ? 'mine' : 'theirs';
    // Its text (and quote, "edited", reactions) are written by `refreshRich`.
    const text = el('p', { class: 'text' });
    const bubble = el('div', { class: 'bubble' }, from, text, meta);
    const node = el('div', { class: `msg ${side}`, dataset: { key: item.key } }, who, bubble);
    const rec = { node, kind: item.kind, who, time, meta, text, bubble, seq: null, watched: null };
    this.refresh(rec, item);
    // Its time line is its end: on screen, the message has been read through. One at
    // or below what has been seen can tell nothing new, and is not watched: every
    // watched node costs every frame.
    if (!item.mine && m.seq > this.seenMax) {
      rec.watched = meta;
      this.seqOf.set(meta, m.seq);
      this.observer.observe(meta);
    }
    return rec;
  }

  /** Writes what an item says differently from what its node shows, and nothing else. */
  refresh(rec, item) {
    if (rec.kind === 'day' || rec.kind === 'divider') return;
    const m = item.message;
    const node = rec.node;
    if (item.kind === 'message' && rec.seq !== m.seq) {
      rec.seq = m.seq;
      node.dataset.seq = String(m.seq);
    }
    if (rec.continues !== item.continues) {
      rec.continues = item.continues;
      node.classList.toggle('continues', item.continues);
    }
    if (rec.followed !== item.followed) {
      rec.followed = item.followed;
      node.classList.toggle('followed', item.followed);
    }
    const name = item.notice ? NOTICE_FROM : item.mine ? 'You' : this.conversation().peer.display_name;
    if (rec.at !== m.created_at || rec.name !== name) {
      const time = timeLabel(m.created_at);
      if (rec.at !== m.created_at) {
        rec.time.dateTime = m.created_at;
        rec.time.title = fullLabel(m.created_at);
        rec.time.textContent = time;
      }
      rec.at = m.created_at;
      rec.name = name;
      rec.who.textContent = item.notice ? `Notice from the ${name}, ${time}: ` : `${name}, ${time}: `;
    }
    if (item.mine) this.refreshStatus(rec, item);
    refreshRich(rec, item, this.rich ?? this.richContext());
  }

  /** What `refreshRich` needs: names, the held messages (for quotes), the actions. */
  richContext() {
    const me = this.state.me;
    const peer = this.conversation().peer;
    return {
      me: me.id,
      list: this.list(),
      names: (id) => (id === me.id ? me.display_name : id === peer.id ? peer.display_name : 'Someone'),
      actions: this.actions,
    };
  }

  /**
   * Shows message `seq` (a quote was clicked), loading history up to it if it is not
   * held; focuses and marks it. Resolves false when it cannot be shown.
   */
  async jumpTo(seq) {
    const list = this.list();
    try {
      while (!list.has(seq) && !this.destroyed) {
        const first = list.first();
        if (!first || first.seq < seq) break;
        await this.loadOlderFn(first.seq, HISTORY_MAX);
        if ((list.first()?.seq ?? Infinity) >= first.seq) break;
      }
    } catch {
      // Offline: said below.
    }
    if (this.destroyed || !list.has(seq)) return false;
    const find = () => this.log.querySelector(`.msg[data-seq="${seq}"]`);
    if (!find()) {
      const lo = Math.max(0, list.indexOf(seq) - CONTEXT);
      this.busy();
      this.follow = false;
      this.setSlice(lo, Math.min(list.size, lo + MAX_NODES));
      this.render();
    }
    const node = find();
    if (!node) return false;
    node.scrollIntoView({ block: 'center' });
    node.tabIndex = -1;
    node.focus({ preventScroll: true });
    node.classList.remove('flash');
    // Restarts the mark's animation.
    void node.offsetWidth;
    node.classList.add('flash');
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => node.classList.remove('flash'), 2000);
    return true;
  }

  /** My message's state: in words on the newest and unsent ones, as ✓ / ✓✓ on the rest. */
  refreshStatus(rec, item) {
    const error = item.message.error ?? null;
    if (rec.status === item.status && rec.showStatus === item.showStatus && rec.error === error) return;
    Object.assign(rec, { status: item.status, showStatus: item.showStatus, error });
    rec.node.dataset.status = item.status;
    rec.node.dataset.shown = String(item.showStatus);
    rec.statusEl?.remove();
    rec.failedEl?.remove();
    rec.failedEl = null;
    const words = STATUS_WORDS[item.status];
    // The words once, for everyone; the glyphs for the eye only.
    rec.statusEl = item.showStatus
      ? el('span', { class: `status ${item.status}`, text: words })
      : el('span', { class: `status ${item.status} quiet` },
        el('span', { class: 'glyph', 'aria-hidden': 'true', title: words, text: item.status === 'seen' ? '✓✓' : '✓' }),
        el('span', { class: 'visually-hidden', text: words }));
    rec.meta.append(rec.statusEl);
    if (item.status === 'failed') {
      // Why, in words, and what can be done (views/failed-send.js).
      rec.failedEl = this.failedNote(item.message);
      rec.node.querySelector('.bubble').append(rec.failedEl);
    }
  }

  // ---- holding the view still ----

  /** The first node at or below the log's top edge, and where it is. */
  anchor() {
    const children = this.log.children;
    const top = this.log.getBoundingClientRect().top;
    let low = 0;
    let high = children.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (children[mid].getBoundingClientRect().bottom <= top) low = mid + 1;
      else high = mid;
    }
    // A message, if one is there: separators move when days regroup.
    let node = children[low];
    while (node && !node.classList.contains('msg')) node = node.nextElementSibling;
    node ??= children[low];
    return node ? { node, offset: node.getBoundingClientRect().top - top } : null;
  }

  restore({ node, offset }) {
    if (!node.isConnected) return;
    const shift = node.getBoundingClientRect().top - this.log.getBoundingClientRect().top - offset;
    if (Math.abs(shift) >= 0.5) this.log.scrollTop += shift;
  }

  // ---- what is seen ----

  onIntersect(entries) {
    for (const entry of entries) {
      const seq = this.seqOf.get(entry.target);
      // Queued before its node was let go, as seen already.
      if (seq <= this.seenMax) continue;
      if (entry.isIntersecting && entry.intersectionRatio >= SEEN_RATIO) this.onscreen.add(seq);
      else this.onscreen.delete(seq);
    }
    if (this.refreshSeen()) this.onSeen();
  }

  unwatch(rec) {
    this.observer.unobserve(rec.watched);
    this.onscreen.delete(rec.seq);
    rec.watched = null;
  }

  /** Takes in what is on screen, if the reader can see it; true when that is further. */
  refreshSeen() {
    if (!this.settled || document.visibilityState !== 'visible') return false;
    let highest = 0;
    for (const seq of this.onscreen) if (seq > highest) highest = seq;
    if (highest <= this.seenMax) return false;
    this.seenMax = highest;
    for (const rec of this.rendered.values()) {
      if (rec.watched && rec.seq <= highest) this.unwatch(rec);
    }
    return true;
  }
}
