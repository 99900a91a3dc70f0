// Above the message box: this chat's files on their way up (lib/uploads.js), each
// with a labelled progress bar and a button to cancel it, or, refused, why in words
// and a button to dismiss that. A progress event rewrites one bar's numbers only.

import { el } from '../lib/dom.js';

export class UploadTray {
  /** `cancel(key)` stops an upload or dismisses a refused one; `focusLost()` after. */
  constructor({ cancel, focusLost }) {
    Object.assign(this, { cancel, focusLost });
    /** key → `{ item, button, progress, percent, state }`. */
    this.shown = new Map();
    this.element = el('ul', { class: 'upload-tray', 'aria-label': 'Files being sent', hidden: true });
  }

  /** Shows `entries` (the chat's uploads, oldest first). */
  update(entries) {
    const keys = new Set(entries.map((e) => e.key));
    for (const [key, row] of this.shown) {
      if (keys.has(key)) continue;
      const hadFocus = row.item.contains(document.activeElement);
      row.item.remove();
      this.shown.delete(key);
      if (hadFocus) this.focusLost();
    }
    for (const entry of entries) {
      let row = this.shown.get(entry.key);
      if (row?.state !== entry.state) {
        const fresh = this.row(entry);
        if (row) row.item.replaceWith(fresh.item);
        else this.element.append(fresh.item);
        if (row?.item.contains(document.activeElement)) fresh.button.focus();
        row = fresh;
        this.shown.set(entry.key, row);
      }
      if (row.progress && entry.total > 0) {
        row.progress.max = entry.total;
        row.progress.value = entry.loaded;
        row.percent.textContent = `${Math.floor((entry.loaded / entry.total) * 100)}%`;
      }
    }
    this.element.hidden = entries.length === 0;
  }

  row(entry) {
    const failed = entry.state === 'failed';
    const name = el('span', { class: 'upload-name', text: entry.name });
    const button = el('button', {
      type: 'button',
      class: failed ? 'link-button' : 'icon-button upload-cancel',
      'aria-label': failed ? `Dismiss ${entry.name}` : `Cancel upload of ${entry.name}`,
      title: failed ? null : 'Cancel upload',
      on: { click: () => this.cancel(entry.key) },
    }, failed ? 'Dismiss' : el('span', { 'aria-hidden': 'true', text: '✕' }));
    if (failed) {
      const item = el('li', { class: 'upload failed' }, name,
        el('span', { class: 'upload-error', text: entry.error }), button);
      return { item, button, progress: null, state: entry.state };
    }
    // Without a value it shows as busy until the first progress event.
    const progress = el('progress', { 'aria-label': `Uploading ${entry.name}` });
    // For the eye: the bar itself tells screen readers how far it is.
    const percent = el('span', { class: 'upload-percent', 'aria-hidden': 'true' });
    const item = el('li', { class: 'upload' }, name, progress, percent, button);
    return { item, button, progress, percent, state: entry.state };
  }
}
