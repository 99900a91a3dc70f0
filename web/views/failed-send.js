// Under a message of mine the server did not take: why, in words on the page (not in
// a tooltip), and what can be done: send it again (unless that cannot work), take its
// text back into the message box to change it, or drop it.

import { el } from '../lib/dom.js';
import { retryable } from '../lib/outbox.js';

/**
 * The note for a failed send queue entry. `retry(txnId)` sends it again; `sendQueue`
 * discards it; `composer` takes its text back. The focus goes to the message box
 * after each, since the note itself goes away.
 */
export function failedSend(entry, { retry, sendQueue, composer }) {
  const txnId = entry.txn_id;
  const action = (text, run) => el('button', { type: 'button', class: 'link-button', text, on: { click: run } });
  return el('div', { class: 'failed-send' },
    el('p', { class: 'failed-reason', text: entry.error ?? 'The server did not take it.' }),
    el('div', { class: 'failed-actions' },
      retryable(entry) && action('Retry', () => {
        retry(txnId);
        composer.focus();
      }),
      // Its text back in the box would leave its file behind.
      !entry.attachment && action('Edit', () => {
        composer.edit(entry.body);
        sendQueue.discard(txnId);
      }),
      action('Discard', () => {
        sendQueue.discard(txnId);
        composer.focus();
      })));
}
