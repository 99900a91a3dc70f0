// gadka's web client: starts the session, routes between the list, a chat and a
// profile, and ties the socket (lib/connection.js), the state (lib/state.js), the
// send queue (lib/outbox.js) and the files on their way up (lib/uploads.js) to the
// views; what must outlive a reload (unacknowledged sends, drafts) is kept in the
// browser (lib/storage.js).
//
// Routes are paths, served by the server as this same page: `/` the list, `/c/<id>`
// a conversation, `/u/<id>` a profile; any other path is "not found".
//
// Keys anywhere: Escape closes the open chat or profile (a search box clears itself
// first), Ctrl+K (⌘K) goes to the search, Alt+↑/↓ opens the previous or next chat
// with unread messages; the list itself takes the arrow keys (views/roving.js).

import { api, sessionState } from './lib/api.js';
import { Connection } from './lib/connection.js';
import { el } from './lib/dom.js';
import { summary } from './lib/media.js';
import { SendQueue } from './lib/outbox.js';
import { ChatState } from './lib/state.js';
import { UserStorage } from './lib/storage.js';
import { Uploads } from './lib/uploads.js';
import { renderAuth } from './views/auth.js';
import { ChatView } from './views/chat.js';
import { profileView } from './views/profile.js';
import { Sidebar, bubblesIcon, nextUnread } from './views/sidebar.js';

const root = document.getElementById('app');
const TITLE = 'gadka';
/** The longest the list waits behind the open chat to show a change (see `listChanged`). */
const LIST_DELAY_MS = 100;

/**
 * Runs `task` when the page is next idle, at most `ms` later; returns what cancels it.
 * Safari has no `requestIdleCallback`: there it runs once the next frame is painted.
 */
function whenIdle(task, ms) {
  if ('requestIdleCallback' in window) {
    const id = requestIdleCallback(task, { timeout: ms });
    return () => cancelIdleCallback(id);
  }
  let timer = 0;
  const frame = requestAnimationFrame(() => { timer = setTimeout(task, 0); });
  return () => { cancelAnimationFrame(frame); clearTimeout(timer); };
}

/** The logged-in session: everything that lives from login to logout. */
class Session {
  constructor(me) {
    this.state = new ChatState(me);
    this.connectedOnce = false;
    this.view = null;
    /** The read marker asked for per conversation, so a marker is asked for once. */
    this.readAsked = new Map();
    /** The server's cursor to the next page of the list; null when there is no more. */
    this.nextCursor = null;
    /** Whether a page past the first has come: a first page asked again keeps the cursor. */
    this.pagedOn = false;
    /** Whether the first page of the list has come (over HTTP, apart from the socket). */
    this.listLoaded = false;
    this.storage = new UserStorage(me.id);

    // Seen only when focused, and there only while a chat is open.
    this.skipLink = el('a', {
      class: 'skip-link',
      href: '#message',
      hidden: true,
      text: 'Skip to message box',
      on: { click: (event) => { event.preventDefault(); this.view?.focus(); } },
    });
    // The page's one h1, named for what the pane shows (see `setPane`); the design
    // shows none.
    this.heading = el('h1', { class: 'visually-hidden' });
    this.headingText = () => '';
    this.banner = this.makeBanner();
    this.sidebar = new Sidebar({
      state: this.state,
      navigate: (path) => navigate(path),
      onLogout: () => this.logout(),
      notifications,
      loadMore: () => this.loadMore(),
    });
    this.pane = el('div', { class: 'pane' });
    this.layout = el('div', { class: 'layout' }, this.sidebar.element, this.pane);
    // One main landmark around both panes: on a phone only one of them is shown.
    root.replaceChildren(this.skipLink,
      el('main', { class: 'main' }, this.heading, this.banner.element, this.banner.status, this.layout));

    this.state.subscribe((change) => this.changed(change));
    this.onVisibility = () => this.markRead();
    document.addEventListener('visibilitychange', this.onVisibility);
    this.onKey = (event) => this.key(event);
    document.addEventListener('keydown', this.onKey);

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.connection = new Connection({
      url: `${scheme}//${location.host}/ws`,
      onFrame: (frame) => this.frame(frame),
      onState: (state) => {
        this.showConnection(state);
        document.body.dataset.connection = state;
        if (state === 'offline') {
          this.sendQueue.disconnected();
          this.state.setConnected(false);
        }
      },
      onSessionEnded: () => this.end('Your session has ended. Please log in again.'),
      checkSession: sessionState,
      onFrameTooLarge: () => this.sendQueue.frameTooLarge(),
    });
    this.sendQueue = new SendQueue({
      connection: this.connection,
      onChange: (entry, change) => {
        // Kept until the server has it or the person drops it.
        if (change === 'sent' || change === 'discarded') this.storage.forget(entry.txn_id);
        else this.storage.keep(entry);
        // A `sent` answer needs no redraw of its own: the stored message it carries
        // takes the pending copy's place when the state applies it.
        if (change !== 'sent') this.state.emit('outbox', entry.conversation_id);
      },
    });
    // A file's message goes through the queue like any other once the file is up;
    // before that only this page holds it (a reload loses an upload under way).
    this.uploads = new Uploads({
      send: (conversationId, media, replyTo) => this.sendQueue.add(conversationId, '', undefined, replyTo, media),
      onChange: (entry, change) => {
        if (change === 'failed') this.announce(`${entry.name} was not sent. ${entry.error}`);
        this.state.emit('uploads', entry.conversation_id);
      },
    });
    // Sends of an earlier page, sent again with their txn_ids once the socket is up.
    this.sendQueue.restore(this.storage.outbox());
    // The list comes over HTTP at once: it shows (with the sends kept) even while
    // the socket cannot connect.
    this.firstList = this.loadList();
    this.connection.start();
  }

  /**
   * The offline banner: what happened, and a button to try at once instead of
   * waiting out the backoff. Its words are for the eyes; screen readers hear the
   * same from a status region that stays in the page (`status`), since a region
   * that appears is not reliably read out.
   */
  makeBanner() {
    const text = el('span', { 'aria-hidden': 'true' });
    const button = el('button', {
      type: 'button',
      class: 'banner-button',
      text: 'Reconnect now',
      on: { click: () => this.connection.reconnectNow() },
    });
    const element = el('div', { class: 'banner', hidden: true },
      el('span', { class: 'banner-dot', 'aria-hidden': 'true' }), text, button);
    const status = el('p', { class: 'visually-hidden', role: 'status' });
    return { element, text, status };
  }

  /** The banner follows the socket: shown from the first loss until `hello` again. */
  showConnection(state) {
    const { element, text, status } = this.banner;
    if (state === 'online') {
      if (element.hidden) return;
      // The focus may be on the banner's button, which goes away.
      if (element.contains(document.activeElement)) this.focusMain();
      element.hidden = true;
      status.textContent = 'Connected again.';
      return;
    }
    if (state === 'connecting' && element.hidden) return;
    const words = state === 'offline' ? 'Connection lost. Reconnecting…' : 'Reconnecting…';
    element.hidden = false;
    text.textContent = words;
    status.textContent = words;
  }

  /**
   * Says `text` through the status region (the result of an edit, a delete, a
   * reaction); emptied first, so that the same words twice are said twice.
   */
  announce(text) {
    const { status } = this.banner;
    status.textContent = '';
    clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => { status.textContent = text; }, 100);
  }

  /** Where the focus goes when what held it goes away: the message box, else the search. */
  focusMain() {
    if (this.view instanceof ChatView) this.view.focus();
    else this.sidebar.focusSearch();
  }

  /** The keys that work anywhere in the app (see the top of this file). */
  key(event) {
    if (event.defaultPrevented || event.isComposing) return;
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey;
    if (event.key === 'Escape' && plain) {
      const path = location.pathname;
      if (path === '/') return;
      event.preventDefault();
      const chat = path.match(/^\/c\/(\d+)$/);
      navigate('/');
      if (!(chat && this.sidebar.focusEntry(Number(chat[1])))) this.sidebar.focusSearch();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      // On a phone the list is away while a pane is open: back to it first.
      if (this.layout.dataset.open === 'pane' && this.sidebar.element.getClientRects().length === 0) navigate('/');
      this.sidebar.focusSearch();
      return;
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey &&
      (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      event.preventDefault();
      const current = this.view instanceof ChatView ? this.view.id : null;
      const next = nextUnread(this.state.sorted(), current, event.key === 'ArrowUp' ? -1 : 1);
      if (next) navigate(`/c/${next.id}`);
    }
  }

  frame(frame) {
    switch (frame.type) {
      case 'hello':
        this.hello(frame);
        return;
      case 'sent':
        this.sendQueue.acknowledge(frame);
        break;
      case 'error':
        // Other requests' errors are answered through `Connection.request`.
        this.sendQueue.refuse(frame);
        return;
      default:
        break;
    }
    const result = this.state.apply(frame);
    if (frame.type === 'message' && result) {
      if (result.unknown) this.loadList();
      else if (result.isNew && frame.message.sender_id !== this.state.me.id) this.notify(result.conversation, frame.message);
    }
    if (frame.type === 'message' || frame.type === 'conversation') this.markRead();
  }

  /** A (re)connected socket: take in the snapshot, then fill the gap and resend. */
  hello(frame) {
    const since = this.state.cursor;
    const resuming = this.connectedOnce;
    this.connectedOnce = true;
    this.state.apply(frame);
    this.sidebar.renderMe();
    // Markers asked for on the old socket may not have been committed.
    this.readAsked.clear();
    if (resuming) this.connection.send({ type: 'resume', since });
    this.sendQueue.connected();
    // The first page came over HTTP at the start (unless that failed); after a
    // reconnect it is asked again, for what changed meanwhile.
    if (resuming) this.loadList();
    else this.firstList.then(() => (this.listLoaded ? null : this.loadList()));
    // The first snapshot shows the route the page was opened at; after a reconnect
    // the view stays as it is (a draft in the message box survives).
    if (!resuming || this.pendingRoute) route();
    else this.markRead();
  }

  /**
   * The first page of the list, beyond the few conversations `hello` carries. A
   * page past it, once fetched, stays: conversations only ever move up the list (by
   * new activity), so the cursor past it stays good.
   */
  async loadList() {
    try {
      const { conversations, next_cursor: cursor } = await api.conversations();
      for (const c of conversations) this.state.mergeConversation(c);
      this.listLoaded = true;
      if (!this.pagedOn) this.nextCursor = cursor ?? null;
      this.state.emit('conversations');
      this.sidebar.setMore(this.nextCursor !== null);
    } catch {
      // The socket's own reconnect will bring us back here.
    }
  }

  /** The next page of the list: its end has scrolled into view. */
  async loadMore() {
    const cursor = this.nextCursor;
    if (cursor === null || this.loadingMore) return;
    this.loadingMore = true;
    this.sidebar.setMore(true, true);
    try {
      const { conversations, next_cursor: next } = await api.conversations({ cursor });
      for (const c of conversations) this.state.mergeConversation(c);
      this.pagedOn = true;
      this.nextCursor = next ?? null;
      this.state.emit('conversations');
    } catch {
      // Offline: the end of the list asks again when it next comes into view.
    } finally {
      this.loadingMore = false;
      this.sidebar.setMore(this.nextCursor !== null);
    }
  }

  /**
   * A conversation opened by its address that this client does not hold (not paged
   * in yet): asked for alone, then shown if the address is still the same.
   */
  async fetchConversation(id) {
    // Most often it is on the list's first page, on its way.
    await this.firstList;
    let text = 'This conversation does not exist, or is not yours.';
    if (!this.state.conversations.has(id)) {
      try {
        const { conversation } = await api.conversation(id);
        this.state.mergeConversation({ messages: [], ...conversation });
        this.state.emit('conversations', conversation.id);
      } catch (e) {
        // Unreachable: the next `hello` routes again.
        this.pendingRoute = e.status === 0 || e.status >= 500;
        if (this.pendingRoute) text = 'This conversation cannot be loaded now. It shows once the connection is back.';
      }
    }
    if (location.pathname !== `/c/${id}`) return;
    if (this.state.conversations.has(id)) route();
    else this.setPane(notFound(text), true, 'Conversation not found');
  }

  changed(change) {
    if (change.kind === 'conversations' || change.kind === 'typing' || change.kind === 'presence') this.listChanged();
    if (change.kind === 'profile') {
      this.sidebar.renderMe();
      this.sidebar.update();
      this.heading.textContent = this.headingText();
    }
    if (this.view?.update) this.view.update(change);
    const total = this.state.totalUnread();
    document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE;
  }

  /**
   * With a chat open, the list shows a change once the frame that shows it in the chat
   * is painted (when the page is next idle): a message in the chat being read comes
   * first, the list's entry a frame later, and changes close together redraw the list
   * once. Without one, the list is what the reader looks at.
   */
  listChanged() {
    if (!(this.view instanceof ChatView)) {
      this.sidebar.update();
      return;
    }
    if (this.cancelListUpdate) return;
    this.cancelListUpdate = whenIdle(() => {
      this.cancelListUpdate = null;
      this.sidebar.update();
    }, LIST_DELAY_MS);
  }

  /**
   * Moves my read marker in the open chat up to what I have seen (F5): the highest of
   * the peer's messages that has been on screen while the tab was visible, as the
   * view's IntersectionObserver tells it. A message that arrives while I am scrolled
   * up, or while the tab is hidden, stays unread until it is scrolled into view. Each
   * marker is asked for once; markers never move back.
   */
  markRead() {
    if (!(this.view instanceof ChatView) || document.visibilityState !== 'visible') return;
    const c = this.state.conversations.get(this.view.id);
    if (!c || c.unread === 0) return;
    const upTo = Math.min(this.view.seenUpTo(), c.last_seq);
    if (upTo <= c.last_read_seq || (this.readAsked.get(c.id) ?? 0) >= upTo) return;
    if (this.connection.send({ type: 'read', conversation_id: c.id, up_to_seq: upTo })) this.readAsked.set(c.id, upTo);
  }

  notify(conversation, message) {
    if (document.visibilityState === 'visible' || !notifications.granted()) return;
    // A notice is the bridge's word about the chat, not the peer's.
    const title = message.kind === 'notice' ? `Matrix bridge, about ${conversation.peer.display_name}` : conversation.peer.display_name;
    const text = summary(message);
    const note = new Notification(title, {
      body: text.length > 140 ? `${text.slice(0, 140)}…` : text,
      tag: `gadka-conversation-${conversation.id}`,
    });
    note.onclick = () => {
      window.focus();
      navigate(`/c/${conversation.id}`);
      note.close();
    };
  }

  /** Shows what the path names: a chat, a profile, or the list alone. */
  show(path) {
    const chat = path.match(/^\/c\/(\d+)$/);
    const profile = path.match(/^\/u\/(\d+)$/);
    this.view?.destroy?.();
    this.view = null;
    this.pendingRoute = false;
    this.skipLink.hidden = true;
    if (chat) {
      const id = Number(chat[1]);
      const c = this.state.conversations.get(id);
      if (!c) {
        // Not paged in yet, or not mine: the server says which.
        this.setPane(el('div', { class: 'placeholder' }, el('p', { class: 'muted', text: 'Loading conversation…' })), true, 'Loading conversation');
        this.sidebar.setActive(null);
        this.fetchConversation(id);
        return;
      }
      this.view = new ChatView({
        state: this.state,
        sendQueue: this.sendQueue,
        conversationId: id,
        // My own reads answer with no receipt: what was asked for counts too.
        readUpTo: Math.max(c.last_read_seq, this.readAsked.get(id) ?? 0),
        onSeen: () => this.markRead(),
        send: (body, replyTo) => this.sendQueue.add(id, body, undefined, replyTo),
        request: (frame) => this.connection.request(frame),
        announce: (text) => this.announce(text),
        uploads: this.uploads,
        retry: (txnId) => this.sendQueue.retry(txnId),
        loadOlder: (before, limit) => this.connection.request({ type: 'history', conversation_id: id, before_seq: before, limit }),
        typing: (typing) => this.connection.send({ type: 'typing', conversation_id: id, typing }),
        navigate,
        back: () => navigate('/'),
      });
      this.setPane(this.view.element, true, () => `Chat with ${this.state.conversations.get(id).peer.display_name}`);
      // In the page: only now can it scroll to where it opens.
      this.view.mounted();
      this.view.composer.keepDraft(this.storage.draft(id), (text) => this.storage.setDraft(id, text));
      this.skipLink.hidden = false;
      this.sidebar.endSearch();
      this.sidebar.setActive(id);
      // The latest messages, fresh (F3b); the answer updates the view.
      this.connection.request({ type: 'open', user_id: c.peer.id }).catch(() => {});
      this.view.focus();
      return;
    }
    this.sidebar.setActive(null);
    if (profile) {
      this.view = profileView({
        id: Number(profile[1]),
        me: this.state.me,
        presence: (userId) => this.state.presence(userId),
        openChat: async (user) => {
          const { conversation } = await api.open(user.id);
          this.state.mergeConversation(conversation);
          this.state.emit('conversations', conversation.id);
          return conversation.id;
        },
        rename: async (displayName) => {
          const { user } = await api.updateMe(displayName);
          // At once, everywhere; the socket's `profile` frame says the same later.
          this.state.applyProfile(user);
          return user;
        },
        navigate,
        back: () => navigate('/'),
      });
      this.setPane(this.view.element, true, 'Profile');
      return;
    }
    if (path !== '/') {
      this.setPane(notFound(`There is no page at ${path}.`), true, 'Page not found');
      return;
    }
    this.setPane(el('div', { class: 'placeholder' },
      el('div', { class: 'placeholder-art', 'aria-hidden': 'true' }, bubblesIcon()),
      el('h2', { text: 'Your messages' }),
      el('p', { class: 'muted', text: 'Pick a conversation, or search for someone to start one.' })), false, 'Your conversations');
  }

  /**
   * Puts `content` in the right pane; on a phone, `open` shows that pane alone.
   * `title` (a string, or a function for a title that follows a name) is the
   * page's h1.
   */
  setPane(content, open, title) {
    this.pane.replaceChildren(content);
    this.layout.dataset.open = open ? 'pane' : 'list';
    this.headingText = typeof title === 'function' ? title : () => title;
    this.heading.textContent = this.headingText();
  }

  /**
   * Logging out leaves nothing of mine in this browser: unsent messages and drafts
   * go too. (A session that ended by itself keeps them, for the next login.)
   */
  async logout() {
    try {
      await api.logout();
    } catch {
      // Logged out on this side in any case; the cookie may already be gone.
    }
    this.end(null);
    this.storage.clear();
  }

  end(notice) {
    this.connection.stop();
    this.uploads.cancelAll();
    document.removeEventListener('visibilitychange', this.onVisibility);
    document.removeEventListener('keydown', this.onKey);
    this.view?.destroy?.();
    this.cancelListUpdate?.();
    session = null;
    document.title = TITLE;
    history.replaceState(null, '', '/');
    showLogin(notice);
  }
}

/** Desktop notifications: asked for on a click only, never on load. */
const notifications = {
  granted: () => 'Notification' in window && Notification.permission === 'granted',
  wanted: () => 'Notification' in window && Notification.permission === 'default',
  enable: async () => {
    if ('Notification' in window) await Notification.requestPermission();
  },
};

let session = null;

/** The pane for an address that shows nothing: why, and the way back. */
function notFound(text) {
  return el('div', { class: 'placeholder not-found' },
    el('h2', { text: 'Nothing here' }),
    el('p', { class: 'muted', text }),
    el('a', {
      class: 'button primary',
      href: '/',
      text: 'Go to your conversations',
      on: { click: (event) => { event.preventDefault(); navigate('/'); } },
    }));
}

function navigate(path) {
  if (location.pathname !== path) history.pushState(null, '', path);
  route();
}

function route() {
  if (session) session.show(location.pathname);
}

function showLogin(notice) {
  root.removeAttribute('aria-busy');
  renderAuth(root, { onLoggedIn: start, notice });
}

function start(me) {
  root.removeAttribute('aria-busy');
  session = new Session(me);
  route();
}

window.addEventListener('popstate', route);

try {
  const { user } = await api.me();
  start(user);
} catch {
  showLogin(null);
}
