// The message box under a chat: Enter sends, Shift+Enter breaks the line, and the
// peer is told while I type (a `typing` repeated every few seconds, "stopped" when
// the box empties, idles or a message goes out). Near the size limit it counts what
// is left, and it refuses a message over it next to the box instead of sending what
// the server would refuse. What is typed is a draft the app keeps (`keepDraft`).
// Files come in by its button or pasted into the box (`attach`), each one a message
// of its own once uploaded; their progress shows in the tray above it.

import { el } from '../lib/dom.js';
import { messageSize } from '../lib/rules.js';
import { attachIcon, sendIcon } from './sidebar.js';

/** A typing frame is repeated this often while typing; the peer drops it after 6 s. */
const TYPING_REPEAT_MS = 3_000;
const TYPING_IDLE_MS = 4_000;
/** The box grows with its text up to this height, then scrolls. */
const MAX_HEIGHT_PX = 160;

export class Composer {
  /**
   * `send(body)` queues a message; `typing(isTyping)` tells the peer; `attach(files)`
   * uploads files; `tray` is the element that shows them going (views/upload-tray.js).
   */
  constructor({ send, typing, attach, tray }) {
    Object.assign(this, { sendFn: send, typingFn: typing });
    this.typingSentAt = 0;
    /** The text's length when last measured, to tell an insertion from a replacement. */
    this.length = 0;
    this.saveDraft = () => {};
    this.box = el('textarea', {
      id: 'message',
      name: 'message',
      rows: '1',
      placeholder: 'Write a message…',
      autocomplete: 'off',
    });
    // The box's height comes from a copy of it outside the page's flow: measuring
    // the box itself (height auto, then its scrollHeight) lays out the whole chat on
    // every keystroke, which a long history makes slow.
    this.mirror = el('textarea', { class: 'composer-mirror', rows: '1', tabindex: '-1', 'aria-hidden': 'true' });
    this.count = el('span', { id: 'message-count', class: 'composer-count', hidden: true });
    this.error = el('p', { id: 'message-error', class: 'composer-error', role: 'alert', hidden: true });
    // What the box is for when it is not a new message (a reply, an edit: see
    // views/composer-mode.js, which fills these and takes keys first with `keyHook`).
    this.context = el('div', { class: 'composer-context', hidden: true });
    this.contextDescription = null;
    this.keyHook = null;
    this.label = el('label', { for: 'message', class: 'visually-hidden', text: 'Message' });
    this.sendButton = el('button', { type: 'submit', class: 'send-button', 'aria-label': 'Send', title: 'Send (Enter)' }, sendIcon());
    // The button is the way in, by keyboard too; the input only opens the picker.
    this.fileInput = el('input', {
      type: 'file',
      multiple: true,
      hidden: true,
      tabindex: '-1',
      'aria-label': 'Files to send',
      on: {
        change: () => {
          attach([...this.fileInput.files]);
          // The same file chosen again is a new message.
          this.fileInput.value = '';
        },
      },
    });
    this.attachButton = el('button', {
      type: 'button',
      class: 'icon-button attach-button',
      'aria-label': 'Attach files',
      title: 'Attach files (or drop them, or paste an image)',
      on: { click: () => this.fileInput.click() },
    }, attachIcon());
    this.box.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      // Copied text can come with a picture of itself (a spreadsheet's cells): the text wins.
      if (!files.length || event.clipboardData.types.includes('text/plain')) return;
      event.preventDefault();
      attach(files);
    });
    this.box.addEventListener('keydown', (event) => {
      if (!event.isComposing && this.keyHook?.(event)) {
        event.preventDefault();
        return;
      }
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.box.addEventListener('input', (event) => {
      // Text added with nothing taken away (no selection typed over) can only make the
      // box taller; anything else, a synthetic `input` too, is measured in full.
      const added = event.inputType === 'insertLineBreak' ? 1 : event.data?.length;
      this.changed(Boolean(event.inputType?.startsWith('insert')) && this.box.value.length === this.length + added);
      this.onTyping();
    });
    this.element = el('form', { class: 'composer', on: { submit: (event) => { event.preventDefault(); this.submit(); } } },
      this.context,
      tray,
      el('div', { class: 'composer-row' },
        this.label,
        this.fileInput,
        this.attachButton,
        el('div', { class: 'composer-field' }, this.box, this.mirror),
        this.sendButton),
      el('div', { class: 'composer-notes' }, this.error, this.count));
  }

  focus() {
    this.box.focus();
  }

  destroy() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt) this.typingFn(false);
  }

  /**
   * Shows a kept draft and keeps what is typed from now on: `save(text)` after every
   * change (an empty box removes the draft).
   */
  keepDraft(text, save) {
    this.saveDraft = save;
    if (text && !this.box.value) {
      this.box.value = text;
      this.changed();
    }
  }

  /**
   * A message that was not sent, back in the box to be changed and sent again; put
   * before a draft already there, so that nothing typed is lost.
   */
  edit(text) {
    this.box.value = this.box.value ? `${text}\n${this.box.value}` : text;
    this.changed();
    this.box.focus();
    this.box.setSelectionRange(text.length, text.length);
  }

  submit() {
    const body = this.box.value;
    if (!body.trim()) return;
    const size = messageSize(body);
    if (size && size.left < 0) {
      // How far over, the count beside it says, and keeps saying while it is shortened.
      this.showError('This message is too long to send. Shorten it, or send it in parts.');
      this.box.focus();
      return;
    }
    this.box.value = '';
    this.changed();
    this.stopTyping();
    this.sendFn(body);
    this.box.focus();
  }

  /**
   * The text changed: its size, its height, its draft; an error it answered goes.
   * Runs on every keystroke, so what is hidden and stays hidden is not touched.
   * `inserted`: text was typed in, replacing nothing, which can only make the box
   * taller.
   */
  changed(inserted = false) {
    const size = messageSize(this.box.value);
    if (size || !this.count.hidden) {
      this.count.hidden = size === null;
      if (size) {
        this.count.textContent = size.left >= 0
          ? `${size.left.toLocaleString()} left`
          : `${(-size.left).toLocaleString()} over the limit`;
        this.count.classList.toggle('over', size.left < 0);
      }
      this.describe();
    }
    if (!this.error.hidden && (!size || size.left >= 0)) this.showError(null);
    this.autosize(inserted);
    this.length = this.box.value.length;
    this.saveDraft(this.box.value);
  }

  showError(text) {
    this.error.textContent = text ?? '';
    this.error.hidden = !text;
    if (text) this.box.setAttribute('aria-invalid', 'true');
    else this.box.removeAttribute('aria-invalid');
    this.describe();
  }

  /** The box is described by what is shown under it, and only that. */
  describe() {
    const context = this.context.hidden ? null : this.contextDescription;
    const ids = [context, this.error, this.count].filter((n) => n && !n.hidden).map((n) => n.id);
    if (ids.length) this.box.setAttribute('aria-describedby', ids.join(' '));
    else this.box.removeAttribute('aria-describedby');
  }

  onTyping() {
    clearTimeout(this.typingTimer);
    if (!this.box.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_REPEAT_MS) {
      this.typingSentAt = now;
      this.typingFn(true);
    }
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt) {
      this.typingSentAt = 0;
      this.typingFn(false);
    }
  }

  /**
   * Fits the box to its text; the chat is laid out again only when that changes its
   * height. Text added to a box it still fits, or to a box at its tallest, changes
   * nothing: the box's own scrollHeight says so, and editing has just laid it out,
   * whereas measuring the copy lays out again on every keystroke.
   */
  autosize(inserted = false) {
    const box = this.box;
    if (inserted && (box.scrollHeight <= box.clientHeight || box.style.height === `${MAX_HEIGHT_PX}px`)) return;
    this.mirror.value = box.value;
    // The copy is zero high: its offsetHeight is padding and border, its clientHeight
    // the padding, and the box's height (border-box) counts the border too.
    const border = this.mirror.offsetHeight - this.mirror.clientHeight;
    const height = `${Math.min(this.mirror.scrollHeight + border, MAX_HEIGHT_PX)}px`;
    if (box.style.height !== height) box.style.height = height;
  }
}
