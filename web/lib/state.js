// What the client knows of the chat: conversations, their messages, read markers,
// unread counts, who is online and who is typing. Frames from the socket are applied
// here and nothing else; views subscribe to changes. No DOM and no socket here.

import { MessageList } from './messages.js';
import { applyReaction } from './reactions.js';

/** How long a "typing" lasts without a refresh: the sender repeats it while typing. */
const TYPING_TTL_MS = 6_000;

export class ChatState {
  constructor(me) {
    this.me = me;
    /** id → conversation (see `conversation()` for its shape). */
    this.conversations = new Map();
    /** Peers online now, as far as a live socket says (see `presence`). */
    this.online = new Set();
    /** Whether a socket is live: without one, nobody's presence is known. */
    this.connected = false;
    /**
     * peer id → unread count of a conversation not held yet (the list pages in),
     * from the server's summary: the title's total counts them too.
     */
    this.unreadElsewhere = new Map();
    /** conversation id → when its typing indicator lapses (ms). */
    this.typingUntil = new Map();
    /**
     * The cursor for `resume`: the highest of `hello.position` (or, from a server
     * without it, `last_message_id`), every message id and every event `pos` applied.
     */
    this.cursor = 0;
    /**
     * conversation id → messages that arrived live before the conversation was
     * known: kept until its snapshot arrives, which may be older than they are.
     */
    this.early = new Map();
    this.listeners = new Set();
  }

  /** Calls `listener(change)` on every change: `{ kind, conversationId? }`. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(kind, conversationId, user) {
    for (const listener of this.listeners) listener({ kind, conversationId, user });
  }

  /** Applies one frame from the server; returns what it was about, for the app. */
  apply(frame) {
    // An event's place in the one order of commits (an answer carries none).
    if (Number.isSafeInteger(frame.pos)) this.cursor = Math.max(this.cursor, frame.pos);
    switch (frame.type) {
      case 'hello':
        this.me = frame.me;
        this.online = new Set(frame.online);
        this.connected = true;
        for (const c of frame.conversations) this.mergeConversation(c);
        this.applyUnread(frame.unread);
        this.cursor = Math.max(this.cursor, frame.last_message_id ?? 0, frame.position ?? 0);
        this.emit('conversations');
        return null;
      case 'conversation':
        this.mergeConversation(frame.conversation);
        this.emit('conversations', frame.conversation.id);
        this.emit('messages', frame.conversation.id);
        return frame.conversation;
      case 'message':
        // Only `message` frames move the cursor: they come in id order, while an
        // answer (`sent`, `conversation`) or an HTTP read may run ahead of a message
        // still on its way, which a `resume` from there would skip.
        this.cursor = Math.max(this.cursor, frame.message.id);
        return this.addMessage(frame.message);
      case 'sent':
        return this.addMessage(frame.message);
      case 'history': {
        const c = this.conversations.get(frame.conversation_id);
        if (!c) return null;
        for (const m of frame.messages) this.storeMessage(c, m);
        this.emit('messages', c.id);
        return null;
      }
      case 'receipt':
        this.applyReceipt(frame);
        return null;
      case 'unread':
        this.applyUnread(frame);
        this.emit('conversations');
        return null;
      case 'typing': {
        if (frame.user_id === this.me.id) return null;
        const id = frame.conversation_id;
        if (frame.typing) {
          this.typingUntil.set(id, Date.now() + TYPING_TTL_MS);
          // Say so again when it lapses, in case no "stopped" comes (a closed tab).
          setTimeout(() => this.emit('typing', id), TYPING_TTL_MS + 50);
        } else {
          this.typingUntil.delete(id);
        }
        this.emit('typing', id);
        return null;
      }
      case 'presence':
        if (frame.online) this.online.add(frame.user_id);
        else this.online.delete(frame.user_id);
        this.emit('presence');
        return null;
      case 'profile':
        this.applyProfile(frame.user);
        return null;
      case 'message_edited':
      case 'edited':
        this.changeMessage(frame.message.conversation_id, frame.message.seq, (held) => ({
          ...frame.message,
          // The node of a message of mine is keyed by its txn_id: keep it.
          txn_id: frame.message.txn_id || held.txn_id,
        }));
        return null;
      case 'message_deleted':
        this.changeMessage(frame.conversation_id, frame.seq, (held) =>
          (held.deleted ? held : { ...held, deleted: true, body: '', reactions: [] }));
        return null;
      case 'reaction':
        this.changeMessage(frame.conversation_id, frame.seq, (held) => {
          if (held.deleted) return held;
          const reactions = applyReaction(held.reactions, frame.user_id, frame.key, frame.on);
          return reactions === held.reactions ? held : { ...held, reactions };
        });
        return null;
      default:
        return null;
    }
  }

  /** The socket is lost (false) or back (true, with `hello` bringing who is online). */
  setConnected(connected) {
    if (this.connected === connected) return;
    this.connected = connected;
    this.emit('presence');
  }

  /** "online", "offline", or "unknown" while no socket is live to say. */
  presence(userId) {
    if (!this.connected) return 'unknown';
    return this.online.has(userId) ? 'online' : 'offline';
  }

  /** A user's new profile (their name), wherever this client shows that user. */
  applyProfile(user) {
    if (user.id === this.me.id) this.me = { ...this.me, ...user };
    for (const c of this.conversations.values()) {
      if (c.peer.id === user.id) c.peer = { ...c.peer, ...user };
    }
    this.emit('profile', undefined, user);
  }

  /** Takes in a conversation as the server shows it (hello, open, the list). */
  mergeConversation(view) {
    let c = this.conversations.get(view.id);
    if (!c) {
      c = {
        id: view.id,
        peer: view.peer,
        messages: new MessageList(),
        last_seq: 0,
        last_read_seq: 0,
        peer_last_read_seq: 0,
        unread: 0,
        last_activity_at: view.last_activity_at,
      };
      this.conversations.set(view.id, c);
      this.unreadElsewhere.delete(view.peer.id);
    }
    c.peer = view.peer;
    // Markers never move back; a snapshot may be older than a frame already applied.
    c.last_read_seq = Math.max(c.last_read_seq, view.last_read_seq);
    c.peer_last_read_seq = Math.max(c.peer_last_read_seq, view.peer_last_read_seq);
    c.last_seq = Math.max(c.last_seq, view.last_seq);
    c.unread = view.unread;
    if (view.last_activity_at > c.last_activity_at) c.last_activity_at = view.last_activity_at;
    for (const m of view.messages) this.storeMessage(c, m);
    for (const m of this.early.get(view.id) ?? []) {
      if (this.storeMessage(c, m) && m.sender_id !== this.me.id && m.seq > Math.max(c.last_read_seq, view.last_seq)) {
        c.unread += 1;
      }
    }
    this.early.delete(view.id);
    return c;
  }

  /**
   * A message from a live frame or a `sent` answer. Returns the conversation it
   * belongs to, or `{ unknown: conversation_id }` when this client does not know
   * the conversation yet (the app then fetches the list).
   */
  addMessage(message) {
    const c = this.conversations.get(message.conversation_id);
    if (!c) {
      const early = this.early.get(message.conversation_id) ?? [];
      early.push(message);
      this.early.set(message.conversation_id, early);
      return { unknown: message.conversation_id };
    }
    const isNew = this.storeMessage(c, message);
    if (isNew && message.sender_id !== this.me.id && message.seq > c.last_read_seq) {
      c.unread += 1;
      // The message ends their typing.
      this.typingUntil.delete(c.id);
    }
    // The list first: the log then lays out (to follow the newest) what both changed,
    // once, instead of the frame laying out again what the list changed after it.
    this.emit('conversations', c.id);
    this.emit('messages', c.id);
    return { conversation: c, isNew };
  }

  /** Keeps a message once (by seq); true when it was not held yet. */
  storeMessage(c, m) {
    const isNew = c.messages.put(m);
    c.last_seq = Math.max(c.last_seq, m.seq);
    if (m.created_at > c.last_activity_at) c.last_activity_at = m.created_at;
    return isNew;
  }

  /**
   * A change to a message held (an edit, a delete, a reaction): `change(held)` gives
   * its new view (the same object when nothing changes). One not held is left: it
   * comes fresh with the history that brings it.
   */
  changeMessage(conversationId, seq, change) {
    const c = this.conversations.get(conversationId);
    const held = c?.messages.get(seq);
    if (!held) return;
    const next = change(held);
    if (next === held) return;
    c.messages.put(next);
    this.emit('messages', c.id);
    // The list's preview may show it.
    if (c.messages.last() === next) this.emit('conversations', c.id);
  }

  applyReceipt({ conversation_id: id, user_id: userId, up_to_seq: upTo }) {
    const c = this.conversations.get(id);
    if (!c) return;
    if (userId === this.me.id) {
      // I read it on another device; the count follows what is held past the marker.
      c.last_read_seq = Math.max(c.last_read_seq, upTo);
      let past = 0;
      for (let i = c.messages.lowerBound(c.last_read_seq + 1); i < c.messages.size; i += 1) {
        if (c.messages.at(i).sender_id !== this.me.id) past += 1;
      }
      c.unread = Math.min(c.unread, past);
      this.emit('conversations', id);
    } else {
      c.peer_last_read_seq = Math.max(c.peer_last_read_seq, upTo);
    }
    this.emit('messages', id);
  }

  /** The server's unread summary is the truth for every count. */
  applyUnread(summary) {
    const bySender = new Map(summary.senders.map((s) => [s.user.id, s.count]));
    for (const c of this.conversations.values()) {
      c.unread = bySender.get(c.peer.id) ?? 0;
      bySender.delete(c.peer.id);
    }
    this.unreadElsewhere = bySender;
  }

  /** Conversations, newest activity first. */
  sorted() {
    return [...this.conversations.values()].sort((a, b) =>
      a.last_activity_at < b.last_activity_at ? 1 : a.last_activity_at > b.last_activity_at ? -1 : b.id - a.id,
    );
  }

  /** A conversation's messages held, oldest first (a copy; the timeline reads `c.messages`). */
  messages(id) {
    const c = this.conversations.get(id);
    return c ? c.messages.slice() : [];
  }

  /** The newest message held in a conversation, if any. */
  lastMessage(c) {
    return c.messages.last() ?? null;
  }

  /** The server's total: the conversations held and those not paged in yet. */
  totalUnread() {
    let total = 0;
    for (const count of this.unreadElsewhere.values()) total += count;
    for (const c of this.conversations.values()) total += c.unread;
    return total;
  }

  isTyping(id) {
    const until = this.typingUntil.get(id);
    return until !== undefined && until > Date.now();
  }
}
