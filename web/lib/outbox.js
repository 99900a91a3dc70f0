// The messages I have sent that the server has not acknowledged yet.
//
// Each send gets a `txn_id` made here, once. Until its `sent` answer arrives the
// message stays "sending" and is kept; after a reconnect every one of them is sent
// again with the same `txn_id`, which the server stores once (a repeat returns the
// first message). No DOM here: the views read `pending(conversationId)`.

/** A new transaction id: random, so two tabs of one person never collide. */
export function newTxnId() {
  if (globalThis.crypto?.randomUUID) return `web-${crypto.randomUUID()}`;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export class Outbox {
  constructor() {
    /** txn_id → entry, in the order sends were made. */
    this.entries = new Map();
  }

  /** Queues a message; returns its entry, state "sending". */
  add(conversationId, body, now = new Date()) {
    const entry = {
      txn_id: newTxnId(),
      conversation_id: conversationId,
      body,
      created_at: now.toISOString(),
      state: 'sending',
      error: null,
    };
    this.entries.set(entry.txn_id, entry);
    return entry;
  }

  /** The server stored it: the entry leaves the outbox. Returns it, if it was here. */
  acknowledge(txnId) {
    const entry = this.entries.get(txnId);
    if (entry) this.entries.delete(txnId);
    return entry ?? null;
  }

  /** The server refused it: it stays, shown as failed, until retried or dropped. */
  fail(txnId, error) {
    const entry = this.entries.get(txnId);
    if (entry) Object.assign(entry, { state: 'failed', error });
    return entry ?? null;
  }

  /** A failed entry goes back to "sending", with the same txn_id. */
  retry(txnId) {
    const entry = this.entries.get(txnId);
    if (entry) Object.assign(entry, { state: 'sending', error: null });
    return entry ?? null;
  }

  /** The entries still to send, in the order they were made: what a reconnect resends. */
  toResend() {
    return [...this.entries.values()].filter((e) => e.state === 'sending');
  }

  /** One conversation's unacknowledged entries, oldest first. */
  pending(conversationId) {
    return [...this.entries.values()].filter((e) => e.conversation_id === conversationId);
  }
}
