// What a message shows beyond its text: the quote of the message it replies to, its
// file (views/attachment.js), "edited", "Message deleted", its reactions, and the
// button to its menu (views/message-actions.js). views/timeline.js builds a message
// node once and calls `refreshRich` on every redraw: each part is written only when
// what it shows changed (kept on the node's record), so an edit, a delete or a
// reaction rewrites that one message, and the quotes that point to it.

import { el, linkify } from '../lib/dom.js';
import { summary } from '../lib/media.js';
import { snippet } from '../lib/reactions.js';
import { fullLabel } from '../lib/time.js';
import { attachmentNode } from './attachment.js';
import { updateChips } from './reactions.js';

/** How long a touch is held on a message to open its menu. */
const LONG_PRESS_MS = 500;

/**
 * Brings the rich parts of the message node `rec` in line with `item`. `ctx`:
 * `me` (my id), `names(id)`, `list` (the conversation's messages, for the quoted
 * ones), and `actions` ({ jumpTo(seq), openMenu(button, seq), toggleReaction(seq,
 * key, on) }), or no `actions` for a log without them.
 */
export function refreshRich(rec, item, ctx) {
  const m = item.message;
  const stored = item.kind === 'message';
  const deleted = Boolean(m.deleted);

  // The text, or that it was deleted.
  const text = deleted ? '\u0000deleted' : m.body;
  if (rec.shownText !== text) {
    rec.text.replaceChildren(...(deleted ? ['Message deleted'] : linkify(m.body)));
    rec.shownText = text;
    rec.text.classList.toggle('deleted-text', deleted);
    rec.text.hidden = text === '';
    rec.node.classList.toggle('deleted', deleted);
  }

  // Its file; a deleted message has none, whatever a copy held before says.
  const attachment = deleted ? null : m.attachment ?? null;
  if (rec.shownAttachment !== (attachment?.id ?? null)) {
    rec.shownAttachment = attachment?.id ?? null;
    rec.attachmentEl?.remove();
    rec.attachmentEl = attachment ? attachmentNode(attachment) : null;
    rec.bubble.classList.toggle('has-image', Boolean(rec.attachmentEl?.classList.contains('attachment-image')));
    if (rec.attachmentEl) rec.text.before(rec.attachmentEl);
  }

  // "edited", with when as its title.
  const edited = deleted ? null : m.edited_at ?? null;
  if (rec.shownEdited !== edited) {
    rec.shownEdited = edited;
    rec.editedEl?.remove();
    rec.editedEl = null;
    if (edited) {
      rec.editedEl = el('span', { class: 'edited', title: `Edited ${fullLabel(edited)}`, text: 'edited' });
      rec.meta.prepend(rec.editedEl);
    }
  }

  // The quote of the message it answers.
  const replyTo = deleted ? null : m.reply_to ?? null;
  let quoteKey = null;
  let target = null;
  if (replyTo !== null) {
    target = ctx.list.get(replyTo) ?? null;
    quoteKey = target
      ? `${replyTo}\n${ctx.names(target.sender_id)}\n${target.kind ?? ''}\n${target.deleted ? '\u0000' : summary(target)}`
      : `${replyTo}\n`;
  }
  if (rec.shownQuote !== quoteKey) {
    rec.shownQuote = quoteKey;
    rec.quoteEl?.remove();
    rec.quoteEl = replyTo === null ? null : quote(replyTo, target, ctx);
    // Above the file, if there is one.
    if (rec.quoteEl) (rec.attachmentEl ?? rec.text).before(rec.quoteEl);
  }

  // The reactions, under the bubble.
  const reactions = deleted || !stored ? [] : m.reactions ?? [];
  const reactionsKey = reactions.length
    ? JSON.stringify(reactions.map((r) => [r.key, r.user_ids.map(ctx.names), r.user_ids.includes(ctx.me)]))
    : '';
  if (rec.shownReactions !== reactionsKey) {
    rec.shownReactions = reactionsKey;
    const focused = rec.reactionsEl?.contains(document.activeElement) ? document.activeElement : null;
    const chips = ctx.actions
      ? updateChips(rec.reactionsEl, reactions, {
        me: ctx.me,
        names: ctx.names,
        toggle: (key, on) => ctx.actions.toggleReaction(rec.seq, key, on),
      })
      : null;
    if (rec.reactionsEl && rec.reactionsEl !== chips) rec.reactionsEl.remove();
    if (chips && !chips.isConnected) rec.node.append(chips);
    rec.reactionsEl = chips;
    // A focused chip that went (its last reaction taken back): the focus stays by the message.
    if (focused && !focused.isConnected) {
      if (chips?.firstChild) chips.firstChild.focus();
      else if (rec.menuButton && !deleted) rec.menuButton.focus();
      else ctx.actions?.focusLost();
    }
  }

  // The menu: on a stored message, not deleted, not a notice (the bridge's words).
  const actionable = Boolean(ctx.actions) && stored && !deleted && !item.notice;
  if (Boolean(rec.menuButton) !== actionable) {
    if (actionable) addMenuButton(rec, ctx);
    else {
      // Its button goes (the message was deleted): the focus must not go with it.
      if (rec.menuButton.contains(document.activeElement)) ctx.actions.focusLost();
      rec.menuButton.remove();
      rec.menuButton = null;
    }
  }
}

/** The quote of the message `seq` (`target`, or null when it is not held). */
function quote(seq, target, ctx) {
  let name = null;
  let words;
  let gone = false;
  if (!target) words = 'An earlier message';
  else {
    name = target.kind === 'notice' ? 'Matrix bridge' : ctx.names(target.sender_id);
    gone = Boolean(target.deleted);
    words = gone ? 'deleted message' : snippet(summary(target)) || ' ';
  }
  const button = el('button', {
    type: 'button',
    class: `quote${gone ? ' quote-deleted' : ''}`,
    title: 'Show the message it replies to',
    dataset: { replyTo: String(seq) },
    on: { click: () => ctx.actions?.jumpTo(seq) },
  },
  el('span', { class: 'visually-hidden', text: 'In reply to ' }),
  name && el('span', { class: 'quote-name', text: name }),
  name && el('span', { class: 'visually-hidden', text: ': ' }),
  el('span', { class: 'quote-text', text: words }));
  return button;
}

function addMenuButton(rec, ctx) {
  const button = el('button', {
    type: 'button',
    class: 'msg-actions',
    'aria-haspopup': 'menu',
    'aria-expanded': 'false',
    'aria-label': 'Message actions',
    title: 'Reply, react and more',
    on: {
      click: () => ctx.actions.openMenu(button, rec.seq),
      keydown: (event) => {
        // The menu button pattern: the arrows open it too, at its first or last item.
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
          event.preventDefault();
          ctx.actions.openMenu(button, rec.seq, { last: event.key === 'ArrowUp' });
        }
      },
    },
  }, el('span', { 'aria-hidden': 'true', text: '⋯' }));
  rec.menuButton = button;
  rec.bubble.after(button);
  if (!rec.pressWired) {
    // A long press on the bubble (touch) opens the same menu.
    rec.pressWired = true;
    let timer = 0;
    const cancel = () => clearTimeout(timer);
    rec.bubble.addEventListener('pointerdown', (event) => {
      if (event.pointerType !== 'touch') return;
      cancel();
      timer = setTimeout(() => {
        if (rec.menuButton) ctx.actions.openMenu(rec.menuButton, rec.seq);
      }, LONG_PRESS_MS);
    });
    for (const type of ['pointerup', 'pointercancel', 'pointerleave', 'pointermove']) {
      rec.bubble.addEventListener(type, (event) => {
        if (type !== 'pointermove' || Math.abs(event.movementX) + Math.abs(event.movementY) > 4) cancel();
      });
    }
    rec.bubble.addEventListener('contextmenu', (event) => {
      if (rec.menuButton && event.pointerType === 'touch') event.preventDefault();
    });
  }
}
