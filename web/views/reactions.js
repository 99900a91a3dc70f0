// The reactions under a message: one chip per key, with its count, mine pressed
// (`aria-pressed`); a click toggles mine. The chip's title and accessible name say
// who reacted, by name ("👍 Alice, Bob"). Keys are text, never markup.
//
// Chips are kept by key and updated in place, so a chip toggled from the keyboard
// keeps the focus.

import { el } from '../lib/dom.js';
import { reactionLabel } from '../lib/reactions.js';

/**
 * Brings the chips in `container` (made when null) in line with `reactions`
 * (`{key, user_ids}` in their order); returns the container, or null when there are
 * none (the caller removes it). `me` is my id, `names(id)` a person's name,
 * `toggle(key, on)` changes mine.
 */
export function updateChips(container, reactions, { me, names, toggle }) {
  if (!reactions?.length) return null;
  const box = container ?? el('div', { class: 'reactions', role: 'group', 'aria-label': 'Reactions' });
  const chips = new Map([...box.children].map((chip) => [chip.dataset.key, chip]));
  let previous = null;
  for (const r of reactions) {
    let chip = chips.get(r.key);
    chips.delete(r.key);
    if (!chip) {
      chip = el('button', {
        type: 'button',
        class: 'reaction-chip',
        dataset: { key: r.key },
        on: { click: () => toggle(r.key, chip.getAttribute('aria-pressed') !== 'true') },
      }, el('span', { class: 'reaction-key', text: r.key }));
    }
    const mine = String(r.user_ids.includes(me));
    const label = reactionLabel(r, names);
    const count = String(r.user_ids.length);
    if (chip.getAttribute('aria-pressed') !== mine) chip.setAttribute('aria-pressed', mine);
    if (chip.getAttribute('aria-label') !== label) {
      chip.setAttribute('aria-label', label);
      chip.title = label;
    }
    // The count is drawn by the style sheet: the names say it, and the visible text
    // stays part of the accessible name (WCAG 2.5.3).
    if (chip.dataset.count !== count) chip.dataset.count = count;
    const at = previous ? previous.nextSibling : box.firstChild;
    if (at !== chip) box.insertBefore(chip, at);
    previous = chip;
  }
  for (const gone of chips.values()) gone.remove();
  return box;
}
