// The send queue: the messages I have sent that the server has not acknowledged yet,
// and the whole life of each one on the wire (the shape of hydrogen-web's
// `room/sending/SendQueue.js`, for a server that pipelines sends).
//
// Each send gets a `txn_id` made here, once, and keeps it: the server stores a
// `txn_id` once and answers a repeat with the first message, so resending whatever is
// unacknowledged after a reconnect can never store a message twice. An entry is
//   waiting  — not on the wire on the current connection (none is open yet),
//   sending  — sent on this connection, no answer yet,
//   failed   — refused by the server (or too large for any server); it waits for
//              the person to retry or discard it.
// The `sent {txn_id}` answer removes it: from then on the stored message is the
// state's (lib/state.js), shown under the same txn_id. The pipeline is the server's:
// every send goes out at once, without waiting for the answer to the previous one.
//
// Neither DOM nor socket here, so it is tested alone: the connection is injected and
// the app is told of every change (`onChange`). Entries are plain data, so that
// lib/storage.js keeps them across a reload by following `onChange`, and `restore`
// takes them back; the request id that ties an entry to one connection is kept apart
// from them.

/** The smallest frame any gadka server accepts: `Limits::max_request_bytes` at its floor. */
export const MIN_FRAME_LIMIT = 68 * 1024;
const TOO_LARGE = 'Too long to send. Shorten it, or send it in parts.';

/**
 * Whether sending a failed entry again can work: not for one too large, which every
 * try would refuse the same way (it can be edited or discarded).
 */
export function retryable(entry) {
  return entry.state === 'failed' && entry.error !== TOO_LARGE;
}

/** Why the server refused a send, in words; its own message where there are none. */
export function refusalReason(frame) {
  switch (frame.code) {
    case 'payload_too_large':
      return TOO_LARGE;
    case 'not_found':
      return 'This conversation is not available to you.';
    case 'quota_exceeded':
      return 'Your messages have filled the space this server gives each person.';
    default:
      return frame.message || 'The server refused it.';
  }
}

/** A new transaction id: random, so two tabs of one person never collide. */
export function newTxnId() {
  if (globalThis.crypto?.randomUUID) return `web-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The `send` frame of an entry: the same `txn_id` every time it is sent. */
function sendFrame(entry) {
  const frame = { type: 'send', conversation_id: entry.conversation_id, body: entry.body, txn_id: entry.txn_id };
  if (entry.reply_to != null) frame.reply_to = entry.reply_to;
  if (entry.attachment) frame.media_id = entry.attachment.id;
  return frame;
}

export class SendQueue {
  /**
   * `connection.send(frame)` puts a frame on the wire and returns false when the
   * connection is not open (the entry then waits for `connected()`).
   * `onChange(entry, change)`: "added", "failed", "retried", "discarded" or "sent".
   */
  constructor({ connection, onChange, later = (run, ms) => setTimeout(run, ms) }) {
    this.connection = connection;
    this.onChange = onChange;
    /** Runs a function after some milliseconds: a send the server asked to wait. */
    this.later = later;
    /** txn_id → entry, in the order sends were made. */
    this.entries = new Map();
    /**
     * req → txn_id of the sends on the current connection, to match an `error` to
     * its message. Strings, apart from the connection's own numbered requests.
     */
    this.reqs = new Map();
    this.nextReq = 1;
  }

  /**
   * Queues a message (a reply to the message `replyTo`, a seq, if given; carrying
   * `attachment`, an uploaded file's media, if given) and sends it if the connection
   * is open; returns its entry.
   */
  add(conversationId, body, now = new Date(), replyTo = null, attachment = null) {
    const entry = {
      txn_id: newTxnId(),
      conversation_id: conversationId,
      body,
      created_at: now.toISOString(),
      state: 'waiting',
      error: null,
    };
    if (replyTo != null) entry.reply_to = replyTo;
    // The media as the upload answered it: the pending copy shows it as the stored one will.
    if (attachment) entry.attachment = attachment;
    this.entries.set(entry.txn_id, entry);
    this.onChange(entry, 'added');
    this.transmit(entry);
    return entry;
  }

  /**
   * Takes back entries kept from an earlier page (lib/storage.js), oldest first, and
   * sends those not failed, with their own txn_ids, once the connection is open.
   */
  restore(entries) {
    for (const kept of entries) {
      if (this.entries.has(kept.txn_id)) continue;
      const failed = kept.state === 'failed';
      const entry = {
        txn_id: kept.txn_id,
        conversation_id: kept.conversation_id,
        body: kept.body,
        created_at: kept.created_at,
        state: failed ? 'failed' : 'waiting',
        error: failed ? kept.error : null,
      };
      if (kept.reply_to != null) entry.reply_to = kept.reply_to;
      if (kept.attachment) entry.attachment = kept.attachment;
      this.entries.set(entry.txn_id, entry);
      if (!failed) this.transmit(entry);
    }
  }

  /** The connection is open again: every unacknowledged entry goes out, oldest first. */
  connected() {
    this.reqs.clear();
    for (const entry of this.entries.values()) {
      if (entry.state !== 'failed') this.transmit(entry);
    }
  }

  /**
   * The connection is lost: what was on the wire is unanswered and waits. Some of it
   * may be stored already; the resend's `txn_id` takes care of that.
   */
  disconnected() {
    this.reqs.clear();
    for (const entry of this.entries.values()) {
      if (entry.state === 'sending') entry.state = 'waiting';
    }
  }

  /** A `sent` answer: the server stored it. Returns the entry, or null (a repeat). */
  acknowledge(frame) {
    this.reqs.delete(frame.req);
    const entry = this.entries.get(frame.txn_id);
    if (!entry) return null;
    this.entries.delete(entry.txn_id);
    this.onChange(entry, 'sent');
    return entry;
  }

  /**
   * An `error` answer: if it answers a send, that entry failed, or, when the server
   * only asks it to wait (`rate_limited`, `busy`), goes out again after the time the
   * server gave. Returns the entry, or null.
   */
  refuse(frame) {
    const txnId = this.reqs.get(frame.req);
    if (txnId === undefined) return null;
    this.reqs.delete(frame.req);
    const entry = this.entries.get(txnId);
    if (entry && Number.isFinite(frame.retry_after_secs)) {
      entry.state = 'waiting';
      this.later(() => {
        if (this.entries.get(txnId) === entry && entry.state === 'waiting') this.transmit(entry);
      }, frame.retry_after_secs * 1000);
      return entry;
    }
    return this.fail(entry, refusalReason(frame));
  }

  /**
   * The server closed the connection over a frame too large: every unacknowledged
   * entry that no server takes fails, so the reconnect does not send it again (and
   * lose the connection again).
   */
  frameTooLarge() {
    const encoder = new TextEncoder();
    for (const entry of this.entries.values()) {
      if (entry.state === 'failed') continue;
      if (encoder.encode(JSON.stringify(sendFrame(entry))).length > MIN_FRAME_LIMIT) this.fail(entry, TOO_LARGE);
    }
  }

  /** A failed entry goes out again, with the same txn_id, if that can work. Returns it, or null. */
  retry(txnId) {
    const entry = this.entries.get(txnId);
    if (!entry || !retryable(entry)) return null;
    Object.assign(entry, { state: 'waiting', error: null });
    this.onChange(entry, 'retried');
    this.transmit(entry);
    return entry;
  }

  /**
   * A failed entry is dropped. Only a failed one: the server is known not to hold
   * it, while one on the wire may be stored already. Returns it, or null.
   */
  discard(txnId) {
    const entry = this.entries.get(txnId);
    if (entry?.state !== 'failed') return null;
    this.entries.delete(txnId);
    this.onChange(entry, 'discarded');
    return entry;
  }

  /** One conversation's unacknowledged entries, oldest first. */
  pending(conversationId) {
    return [...this.entries.values()].filter((e) => e.conversation_id === conversationId);
  }

  /** Sends an entry if the connection is open; otherwise it goes on waiting. */
  transmit(entry) {
    const req = `s${this.nextReq}`;
    if (!this.connection.send({ ...sendFrame(entry), req })) return;
    this.nextReq += 1;
    entry.state = 'sending';
    this.reqs.set(req, entry.txn_id);
  }

  fail(entry, error) {
    if (!entry) return null;
    Object.assign(entry, { state: 'failed', error });
    this.onChange(entry, 'failed');
    return entry;
  }
}
