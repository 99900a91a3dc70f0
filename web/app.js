// gadka's web client: starts the session, routes between the list, a chat and a
// profile, and ties the socket (lib/connection.js), the state (lib/state.js) and the
// send queue (lib/outbox.js) to the views.
//
// Routes are paths, served by the server as this same page: `/` the list, `/c/<id>`
// a conversation, `/u/<id>` a profile.

import { api, sessionState } from './lib/api.js';
import { Connection } from './lib/connection.js';
import { el } from './lib/dom.js';
import { SendQueue } from './lib/outbox.js';
import { ChatState } from './lib/state.js';
import { renderAuth } from './views/auth.js';
import { ChatView } from './views/chat.js';
import { profileView } from './views/profile.js';
import { Sidebar, bubblesIcon } from './views/sidebar.js';

const root = document.getElementById('app');
const TITLE = 'gadka';

/** The logged-in session: everything that lives from login to logout. */
class Session {
  constructor(me) {
    this.state = new ChatState(me);
    this.connectedOnce = false;
    this.view = null;
    /** The read marker asked for per conversation, so a marker is asked for once. */
    this.readAsked = new Map();
    /** Whether the full list has come: until then an unknown chat may still appear. */
    this.listLoaded = false;

    this.banner = el('div', { class: 'banner', role: 'status', hidden: true },
      el('span', { class: 'banner-dot', 'aria-hidden': 'true' }), 'Connection lost. Reconnecting…');
    this.sidebar = new Sidebar({
      state: this.state,
      navigate: (path) => navigate(path),
      onLogout: () => this.logout(),
      notifications,
    });
    this.pane = el('main', { class: 'pane' });
    this.layout = el('div', { class: 'layout' }, this.sidebar.element, this.pane);
    root.replaceChildren(this.banner, this.layout);

    this.state.subscribe((change) => this.changed(change));
    this.onVisibility = () => this.markRead();
    document.addEventListener('visibilitychange', this.onVisibility);

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.connection = new Connection({
      url: `${scheme}//${location.host}/ws`,
      onFrame: (frame) => this.frame(frame),
      onState: (state) => {
        this.banner.hidden = state !== 'offline';
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
      // A `sent` answer needs no redraw of its own: the stored message it carries
      // takes the pending copy's place when the state applies it.
      onChange: (entry, change) => {
        if (change !== 'sent') this.state.emit('outbox', entry.conversation_id);
      },
    });
    this.connection.start();
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
    this.loadList();
    // The first snapshot shows the route the page was opened at; after a reconnect
    // the view stays as it is (a draft in the message box survives).
    if (!resuming || this.pendingRoute) route();
    else this.markRead();
  }

  /** The list beyond the few conversations `hello` carries. */
  async loadList() {
    try {
      const { conversations } = await api.conversations();
      for (const c of conversations) this.state.mergeConversation(c);
      this.listLoaded = true;
      this.state.emit('conversations');
      if (this.pendingRoute) route();
    } catch {
      // The socket's own reconnect will bring us back here.
    }
  }

  changed(change) {
    if (change.kind === 'conversations' || change.kind === 'typing' || change.kind === 'presence') this.sidebar.update();
    if (change.kind === 'profile') {
      this.sidebar.renderMe();
      this.sidebar.update();
    }
    if (this.view?.update) this.view.update(change);
    const total = this.state.totalUnread();
    document.title = total > 0 ? `(${total}) ${TITLE}` : TITLE;
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
    const note = new Notification(conversation.peer.display_name, {
      body: message.body.length > 140 ? `${message.body.slice(0, 140)}…` : message.body,
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
    if (chat) {
      const id = Number(chat[1]);
      const c = this.state.conversations.get(id);
      if (!c) {
        // Not known yet: the list is loading, or the id is not mine.
        this.pendingRoute = !this.listLoaded;
        const text = this.listLoaded ? 'This conversation does not exist, or is not yours.' : 'Loading conversation…';
        this.setPane(el('div', { class: 'placeholder' }, el('p', { class: 'muted', text })), true);
        this.sidebar.setActive(null);
        return;
      }
      this.view = new ChatView({
        state: this.state,
        sendQueue: this.sendQueue,
        conversationId: id,
        // My own reads answer with no receipt: what was asked for counts too.
        readUpTo: Math.max(c.last_read_seq, this.readAsked.get(id) ?? 0),
        onSeen: () => this.markRead(),
        send: (body) => this.sendQueue.add(id, body),
        retry: (txnId) => this.sendQueue.retry(txnId),
        loadOlder: (before, limit) => this.connection.request({ type: 'history', conversation_id: id, before_seq: before, limit }),
        typing: (typing) => this.connection.send({ type: 'typing', conversation_id: id, typing }),
        navigate,
        back: () => navigate('/'),
      });
      this.setPane(this.view.element, true);
      // In the page: only now can it scroll to where it opens.
      this.view.mounted();
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
        navigate,
        back: () => navigate('/'),
      });
      this.setPane(this.view.element, true);
      return;
    }
    this.setPane(el('div', { class: 'placeholder' },
      el('div', { class: 'placeholder-art', 'aria-hidden': 'true' }, bubblesIcon()),
      el('h2', { text: 'Your messages' }),
      el('p', { class: 'muted', text: 'Pick a conversation, or search for someone to start one.' })), false);
  }

  /** Puts `content` in the right pane; on a phone, `open` shows that pane alone. */
  setPane(content, open) {
    this.pane.replaceChildren(content);
    this.layout.dataset.open = open ? 'pane' : 'list';
  }

  async logout() {
    try {
      await api.logout();
    } catch {
      // Logged out on this side in any case; the cookie may already be gone.
    }
    this.end(null);
  }

  end(notice) {
    this.connection.stop();
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.view?.destroy?.();
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
