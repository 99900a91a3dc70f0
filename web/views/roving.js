// Arrow keys through a list of links (the conversations, the people found), with one
// tab stop for the whole list: Tab enters the list at the entry last focused (or the
// current one) and leaves it with the next Tab, while Up, Down, Home and End move
// within it. The "roving tabindex" of the ARIA Authoring Practices.

/**
 * Makes the items matching `selector` inside `container` one tab stop. `above()`
 * gives the element Up leaves the first item for (the search box), or null.
 * Returns `sync()`, to call after items are added, removed or reordered.
 */
export function rovingFocus(container, selector, { above = () => null } = {}) {
  const items = () => [...container.querySelectorAll(selector)];

  const sync = (preferred = null) => {
    const all = items();
    const stop = preferred && all.includes(preferred)
      ? preferred
      : all.find((item) => item.tabIndex === 0 && item.dataset.rovingStop === '1') ??
        all.find((item) => item.getAttribute('aria-current') === 'page') ??
        all[0];
    // Written only where it changes: this runs on every change to the list.
    for (const item of all) {
      const isStop = item === stop;
      if (item.tabIndex !== (isStop ? 0 : -1)) item.tabIndex = isStop ? 0 : -1;
      if (isStop === (item.dataset.rovingStop === '1')) continue;
      if (isStop) item.dataset.rovingStop = '1';
      else delete item.dataset.rovingStop;
    }
  };

  container.addEventListener('focusin', (event) => {
    const item = event.target.closest(selector);
    if (item && container.contains(item)) sync(item);
  });
  container.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const all = items();
    const index = all.indexOf(event.target.closest(selector));
    if (index < 0) return;
    let next;
    if (event.key === 'ArrowDown') next = Math.min(index + 1, all.length - 1);
    else if (event.key === 'ArrowUp') next = index - 1;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = all.length - 1;
    else return;
    event.preventDefault();
    if (next < 0) {
      above()?.focus();
      return;
    }
    all[next].focus();
  });
  return sync;
}
