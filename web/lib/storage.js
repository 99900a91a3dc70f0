// What the client keeps in the browser across reloads: my sends the server has not
// acknowledged yet (the send queue's entries, so that a reload resends them with
// their own txn_ids and the server stores each once) and each chat's draft.
//
// localStorage: small, synchronous (a reload right after a keystroke loses nothing),
// shared by the tabs of one origin. Every key starts with the logged-in user's id,
// so two accounts used in one browser never see each other's sends or drafts, and a
// logout removes exactly that user's keys. Each send has a key of its own, so two
// tabs of the same person never overwrite each other's; a send both tabs hold is
// sent by both, which its txn_id makes harmless.
//
// Storage can be missing or refuse a write (disabled by the browser, full): the
// client then works as it did before there was storage, from memory alone.

const PREFIX = 'gadka/1';

export class UserStorage {
  /** `storage`: a Web Storage object; the page's localStorage unless a test passes one. */
  constructor(userId, storage = pageStorage()) {
    this.storage = storage;
    this.prefix = `${PREFIX}/${userId}/`;
  }

  /** The sends kept, oldest first, as the send queue's `restore` takes them. */
  outbox() {
    const entries = [];
    for (const key of this.keys(`${this.prefix}outbox/`)) {
      const entry = this.read(key);
      if (isEntry(entry)) entries.push(entry);
      else this.remove(key);
    }
    return entries.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  }

  /** Keeps a send (plain data) until `forget`; an entry on the wire is kept as waiting. */
  keep(entry) {
    const { txn_id, conversation_id, body, created_at } = entry;
    const failed = entry.state === 'failed';
    const kept = {
      txn_id, conversation_id, body, created_at,
      state: failed ? 'failed' : 'waiting',
      error: failed ? entry.error : null,
    };
    // A reply keeps what it answers.
    if (entry.reply_to != null) kept.reply_to = entry.reply_to;
    // So does a file's message: the file is on the server already, only its media is kept.
    if (entry.attachment) kept.attachment = entry.attachment;
    this.write(`${this.prefix}outbox/${txn_id}`, kept);
  }

  forget(txnId) {
    this.remove(`${this.prefix}outbox/${txnId}`);
  }

  /** The draft of a conversation's message box, or ''. */
  draft(conversationId) {
    const text = this.read(`${this.prefix}draft/${conversationId}`);
    return typeof text === 'string' ? text : '';
  }

  /** Keeps a draft; an empty one is removed. */
  setDraft(conversationId, text) {
    const key = `${this.prefix}draft/${conversationId}`;
    if (text.trim() === '') this.remove(key);
    else this.write(key, text);
  }

  /** Removes everything kept for this user (logout). */
  clear() {
    for (const key of this.keys(this.prefix)) this.remove(key);
  }

  keys(prefix) {
    const found = [];
    try {
      for (let i = 0; i < this.storage.length; i += 1) {
        const key = this.storage.key(i);
        if (key?.startsWith(prefix)) found.push(key);
      }
    } catch {
      // No storage: nothing kept.
    }
    return found;
  }

  read(key) {
    try {
      const raw = this.storage.getItem(key);
      return raw === null ? null : JSON.parse(raw);
    } catch {
      return null;
    }
  }

  write(key, value) {
    try {
      this.storage.setItem(key, JSON.stringify(value));
    } catch {
      // Full or refused: this value lives in memory only, as it did before storage.
    }
  }

  remove(key) {
    try {
      this.storage.removeItem(key);
    } catch {
      // Nothing to remove from where nothing could be kept.
    }
  }
}

/** The page's localStorage, or null where the browser refuses it (reading it throws). */
function pageStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** Whether a stored value is a send the queue can take back (not a damaged or foreign one). */
function isEntry(e) {
  return e !== null && typeof e === 'object' &&
    typeof e.txn_id === 'string' && e.txn_id !== '' &&
    Number.isSafeInteger(e.conversation_id) &&
    typeof e.body === 'string' && typeof e.created_at === 'string' &&
    (e.state === 'waiting' || e.state === 'failed') &&
    (e.error === null || typeof e.error === 'string') &&
    (e.reply_to === undefined || Number.isSafeInteger(e.reply_to)) &&
    (e.attachment === undefined || isMedia(e.attachment));
}

/** Whether a kept attachment is an upload's media as the server described it. */
function isMedia(a) {
  return a !== null && typeof a === 'object' && typeof a.id === 'string' && a.id !== '' &&
    typeof a.name === 'string' && typeof a.content_type === 'string' && Number.isSafeInteger(a.size);
}
