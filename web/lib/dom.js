// Building the page from data without ever parsing data as HTML.
//
// Every string that reaches the DOM through here becomes a text node (or an
// attribute value); nothing here uses innerHTML. Message text goes through
// `linkify`, which turns http(s) URLs into links and leaves the rest as text.

/**
 * Makes an element. `attrs` keys are attributes, except `class`, `dataset`, `on`
 * (event listeners) and `text` (its text content); children are nodes or strings
 * (strings become text nodes); null, undefined and false children are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/** Appends children (nodes or strings, arrays flattened) to `node`. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Removes every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// A URL candidate: the scheme, then anything but whitespace and characters that
// usually end a URL in prose.
const URL_CANDIDATE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?'")\]}]+$/;

/**
 * Splits `text` into text nodes and links: only `http:` and `https:` URLs become
 * links, opened in a new tab with `rel="noopener noreferrer"`. Trailing punctuation
 * stays text, except a closing parenthesis that closes one inside the URL.
 */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_CANDIDATE)) {
    let candidate = match[0];
    const trailing = candidate.match(TRAILING_PUNCTUATION);
    if (trailing) {
      let cut = trailing[0];
      // Keep a `)` that balances a `(` in the URL (Wikipedia-style links).
      while (cut.startsWith(')') && countOf(candidate.slice(0, -cut.length), '(') >
        countOf(candidate.slice(0, -cut.length), ')')) {
        cut = cut.slice(1);
      }
      candidate = candidate.slice(0, candidate.length - cut.length);
    }
    let url;
    try {
      url = new URL(candidate);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement('a');
    link.href = url.href;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.textContent = candidate;
    nodes.push(link);
    last = match.index + candidate.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function countOf(text, char) {
  let n = 0;
  for (const c of text) if (c === char) n += 1;
  return n;
}

/**
 * How a person is named beside their display name: the Matrix ID of someone who
 * lives on Matrix, `@username` for everyone else.
 */
export function handle(user) {
  return user.matrix_id ?? `@${user.username}`;
}

/** The "Matrix" badge of someone who lives on Matrix; null for a local user. */
export function matrixBadge(user) {
  if (!user.matrix_id) return null;
  return el('span', { class: 'matrix-badge', title: `On Matrix as ${user.matrix_id}`, text: 'Matrix' });
}

/** Initials for an avatar: the first letters of the first two words. */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0]);
  return (letters.join('') || '?').toUpperCase();
}

/** A stable hue (0–359) for a user, so their avatar keeps its colour. */
export function hue(id) {
  return (Number(id) * 137) % 360;
}

/** A round avatar with initials, coloured per user. */
export function avatar(user, size = '') {
  const node = el('span', {
    class: `avatar ${size}`.trim(),
    'aria-hidden': 'true',
    text: initials(user.display_name || user.username),
  });
  // Through the CSSOM: the policy forbids inline style attributes.
  node.style.setProperty('--hue', String(hue(user.id)));
  return node;
}
