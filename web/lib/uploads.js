// The files being uploaded, per conversation, from the first byte until their message
// is queued: the session holds them (not a chat's view), so an upload goes on while
// another chat is open. No DOM here.
//
// An entry is `{ key, conversation_id, name, loaded, total, state, error }`, with
// state "uploading" or "failed" (refused: it stays, with why, until dismissed). A
// finished upload leaves at once and becomes a message: `send(conversationId, media,
// replyTo)`.

import { upload as xhrUpload } from './media.js';

export class Uploads {
  /**
   * `send(conversationId, media, replyTo)` queues the message that carries a finished
   * upload;
   * `onChange(entry, change)` tells of "added", "progress", "failed" and "removed";
   * `upload(file, onProgress)` is lib/media.js's unless a test passes another.
   */
  constructor({ send, onChange, upload = xhrUpload }) {
    Object.assign(this, { send, onChange, upload });
    /** key → entry, in the order uploads were started. */
    this.entries = new Map();
    /** key → the running request's `abort`. */
    this.aborts = new Map();
    this.nextKey = 1;
  }

  /**
   * Starts uploading `file` into a conversation, its message a reply to the message
   * `replyTo` (a seq) if given; returns its entry.
   */
  add(conversationId, file, replyTo = null) {
    const entry = {
      key: `u${this.nextKey}`,
      conversation_id: conversationId,
      name: file.name || 'file',
      loaded: 0,
      total: file.size,
      state: 'uploading',
      error: null,
    };
    this.nextKey += 1;
    this.entries.set(entry.key, entry);
    const { done, abort } = this.upload(file, (loaded, total) => {
      Object.assign(entry, { loaded, total });
      this.onChange(entry, 'progress');
    });
    this.aborts.set(entry.key, abort);
    this.onChange(entry, 'added');
    done.then((media) => {
      this.aborts.delete(entry.key);
      if (!this.entries.delete(entry.key)) return;
      this.onChange(entry, 'removed');
      this.send(conversationId, media, replyTo);
    }, (error) => {
      this.aborts.delete(entry.key);
      if (!this.entries.has(entry.key)) return;
      Object.assign(entry, { state: 'failed', error: error.message });
      this.onChange(entry, 'failed');
    });
    return entry;
  }

  /** Stops an upload (or drops a failed one's note): it sends nothing. */
  cancel(key) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.aborts.get(key)?.();
    this.aborts.delete(key);
    this.onChange(entry, 'removed');
  }

  /** Stops every upload: the session is over, nobody is left to send them. */
  cancelAll() {
    for (const key of [...this.entries.keys()]) this.cancel(key);
  }

  /** One conversation's uploads, oldest first. */
  pending(conversationId) {
    return [...this.entries.values()].filter((e) => e.conversation_id === conversationId);
  }
}
