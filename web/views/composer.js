// The message box under a chat: Enter sends, Shift+Enter breaks the line, and the
// peer is told while I type (a `typing` repeated every few seconds, "stopped" when
// the box empties, idles or a message goes out).

import { el } from '../lib/dom.js';
import { sendIcon } from './sidebar.js';

/** A typing frame is repeated this often while typing; the peer drops it after 6 s. */
const TYPING_REPEAT_MS = 3_000;
const TYPING_IDLE_MS = 4_000;

export class Composer {
  /** `send(body)` queues a message; `typing(isTyping)` tells the peer. */
  constructor({ send, typing }) {
    Object.assign(this, { sendFn: send, typingFn: typing });
    this.typingSentAt = 0;
    this.box = el('textarea', {
      id: 'message',
      name: 'message',
      rows: '1',
      placeholder: 'Write a message…',
      autocomplete: 'off',
    });
    this.box.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.box.addEventListener('input', () => {
      this.autosize();
      this.onTyping();
    });
    this.element = el('form', { class: 'composer', on: { submit: (event) => { event.preventDefault(); this.submit(); } } },
      el('label', { for: 'message', class: 'visually-hidden', text: 'Message' }),
      this.box,
      el('button', { type: 'submit', class: 'send-button', 'aria-label': 'Send', title: 'Send (Enter)' }, sendIcon()));
  }

  focus() {
    this.box.focus();
  }

  destroy() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt) this.typingFn(false);
  }

  submit() {
    const body = this.box.value;
    if (!body.trim()) return;
    this.box.value = '';
    this.autosize();
    this.stopTyping();
    this.sendFn(body);
    this.box.focus();
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

  autosize() {
    this.box.style.height = 'auto';
    this.box.style.height = `${Math.min(this.box.scrollHeight, 160)}px`;
  }
}
