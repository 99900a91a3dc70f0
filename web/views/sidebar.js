// The left pane: who I am, the people search (F1) and the conversation list (F2, F3a),
// newest activity first, each entry with its peer, last message, time and unread
// badge. Entries are built once per conversation and updated in place, so a
// focused entry keeps its focus when a message arrives. The list is paged: the next
// page is asked for (`loadMore`) when its end scrolls near. Arrow keys move through
// the list and through the people found (views/roving.js).

import { api } from '../lib/api.js';
import { append, avatar, clear, el, handle, matrixBadge } from '../lib/dom.js';
import { summary } from '../lib/media.js';
import { dayKey, shortWhen } from '../lib/time.js';
import { rovingFocus } from './roving.js';

const SEARCH_DEBOUNCE_MS = 120;
/** How far below the list's visible end the next page is asked for. */
const LOAD_MORE_MARGIN = '0px 0px 600px 0px';

/**
 * The conversation to go to for Alt+↑ (`step` -1) or Alt+↓ (+1): the nearest one
 * with unread messages above or below the open one in `sorted` (the list's order),
 * or, with none open, the first from the top (or the bottom). Null when there is none.
 */
export function nextUnread(sorted, currentId, step) {
  const at = sorted.findIndex((c) => c.id === currentId);
  const start = at >= 0 ? at + step : step > 0 ? 0 : sorted.length - 1;
  for (let i = start; i >= 0 && i < sorted.length; i += step) {
    if (sorted[i].unread > 0) return sorted[i];
  }
  return null;
}

export class Sidebar {
  /**
   * `navigate(path)` moves the client to a route; `onLogout()` logs out;
   * `notifications` is { wanted(), enable() } for the permission button;
   * `loadMore()` asks for the next page of the list (see `setMore`).
   */
  constructor({ state, navigate, onLogout, notifications, loadMore }) {
    Object.assign(this, { state, navigate, onLogout, notifications, loadMore });
    this.entries = new Map();
    this.active = null;
    this.searchSeq = 0;

    this.bell = el('button', {
      type: 'button',
      class: 'icon-button',
      title: 'Turn on notifications',
      'aria-label': 'Turn on notifications',
      on: { click: async () => { await this.notifications.enable(); this.updateBell(); } },
    }, bellIcon());
    this.me = el('a', {
      class: 'me',
      href: `/u/${this.state.me.id}`,
      title: 'Your profile',
      on: {
        click: (event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey) return;
          event.preventDefault();
          this.navigate(`/u/${this.state.me.id}`);
        },
      },
    });
    const header = el(
      'header',
      { class: 'sidebar-header' },
      this.me,
      el('div', { class: 'header-actions' },
        this.bell,
        el('button', { type: 'button', class: 'button ghost small', text: 'Log out', on: { click: () => this.onLogout() } })),
    );

    this.search = el('input', {
      id: 'search',
      type: 'search',
      class: 'search-input',
      placeholder: 'Search people',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.runSearch(), SEARCH_DEBOUNCE_MS);
    });
    this.search.addEventListener('keydown', (event) => {
      // A search to clear comes first; with none, Escape is the app's (it closes a chat).
      if (event.key === 'Escape' && this.search.value) {
        event.preventDefault();
        this.search.value = '';
        this.runSearch();
      }
      if (event.key === 'ArrowDown' && !event.altKey) {
        const list = this.resultsSection.hidden ? this.list : this.results;
        const stop = list.querySelector('a[tabindex="0"]') ?? list.querySelector('a');
        if (stop) {
          event.preventDefault();
          stop.focus();
        }
      }
    });
    const searchBox = el('div', { class: 'search', role: 'search' },
      el('label', { for: 'search', class: 'visually-hidden', text: 'Search people' }),
      searchIcon(),
      this.search);

    this.results = el('ul', { class: 'people', 'aria-label': 'People found' });
    this.resultsSection = el('section', { class: 'results', hidden: true, 'aria-label': 'Search results' }, this.results);
    this.list = el('ul', { class: 'conversations' });
    this.empty = el('div', { class: 'list-empty' },
      el('p', { text: 'No conversations yet.' }),
      el('p', { class: 'muted', text: 'Search for someone above to start one.' }));
    // Below the last entry: comes into view (nearly) when the list is scrolled to its
    // end, and then the next page is asked for.
    this.more = el('p', { class: 'list-more muted', hidden: true });
    this.listSection = el('nav', { class: 'list', 'aria-label': 'Conversations' }, this.list, this.more, this.empty);
    this.hasMore = false;
    this.loadingMore = false;
    this.observer = new IntersectionObserver((seen) => {
      if (seen.some((entry) => entry.isIntersecting) && this.hasMore && !this.loadingMore) this.loadMore();
    }, { root: this.listSection, rootMargin: LOAD_MORE_MARGIN });
    this.observer.observe(this.more);
    this.syncList = rovingFocus(this.list, 'a.conversation', { above: () => this.search });
    this.syncResults = rovingFocus(this.results, 'a.person', { above: () => this.search });

    // Not an `aside`: it is part of the page's main content, not beside it.
    this.element = el('div', { class: 'sidebar' }, header, searchBox, this.resultsSection, this.listSection);
    this.renderMe();
    this.updateBell();
    this.update();
  }

  renderMe() {
    const me = this.state.me;
    this.me.href = `/u/${me.id}`;
    clear(this.me);
    append(this.me, [
      avatar(me),
      el('div', { class: 'me-names' },
        el('span', { class: 'name', text: me.display_name }),
        el('span', { class: 'username', text: `@${me.username}` })),
    ]);
  }

  updateBell() {
    this.bell.hidden = !this.notifications.wanted();
  }

  setActive(id) {
    this.active = id;
    for (const [cid, entry] of this.entries) {
      if (cid === id) entry.link.setAttribute('aria-current', 'page');
      else entry.link.removeAttribute('aria-current');
    }
    this.syncList(this.entries.get(id)?.link ?? null);
  }

  /**
   * Whether the server has more of the list (`more`), and whether that page is on its
   * way (`loading`). Observed afresh when it changes, since the observer only speaks
   * on a change: the end may still be in view after a page came in.
   */
  setMore(more, loading = false) {
    this.hasMore = more;
    this.loadingMore = loading;
    this.more.hidden = !more;
    this.more.textContent = loading ? 'Loading more conversations…' : '';
    if (more && !loading) {
      this.observer.unobserve(this.more);
      this.observer.observe(this.more);
    }
  }

  /** Ctrl+K: the search box, with what it holds selected. */
  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  /** The focus on a conversation's entry (after its chat closed); false if it is not listed. */
  focusEntry(id) {
    const link = this.entries.get(id)?.link;
    if (!link || this.listSection.hidden) return false;
    link.focus();
    return true;
  }

  /** Brings the list in line with the state: new entries, new contents, new order. */
  update() {
    const sorted = this.state.sorted();
    const today = dayKey(new Date());
    this.empty.hidden = sorted.length > 0;
    // The tab stop needs finding again only when entries come or move.
    let reordered = false;
    sorted.forEach((c, index) => {
      let entry = this.entries.get(c.id);
      if (!entry) {
        entry = this.makeEntry(c);
        this.entries.set(c.id, entry);
      }
      this.fillEntry(entry, c, today);
      if (this.list.children[index] !== entry.item) {
        this.list.insertBefore(entry.item, this.list.children[index] ?? null);
        reordered = true;
      }
    });
    if (reordered) this.syncList();
  }

  makeEntry(c) {
    const link = el('a', {
      class: 'conversation',
      href: `/c/${c.id}`,
      dataset: { conversationId: String(c.id) },
      on: {
        click: (event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey) return;
          event.preventDefault();
          this.navigate(`/c/${c.id}`);
        },
      },
    });
    if (this.active === c.id) link.setAttribute('aria-current', 'page');
    // The parts `fillEntry` rewrites, each on its own.
    const parts = {
      avatar: el('span', { class: 'avatar-wrap' }),
      top: el('span', { class: 'entry-top' }),
      when: el('time', { class: 'when' }),
      preview: el('span', { class: 'preview' }),
      bottom: el('span', { class: 'entry-bottom' }),
    };
    parts.bottom.append(parts.preview);
    link.append(parts.avatar, el('span', { class: 'entry-main' }, parts.top, parts.bottom));
    return { item: el('li', {}, link), link, ...parts, badge: null, shown: {} };
  }

  /**
   * Draws what an entry shows, and of it only what changed: a frame is about one
   * conversation, and rebuilding all of a long list's entries for it, or even one
   * entry whole, cost more than the frame's budget. Messages and peers are replaced,
   * never changed in place, so comparing them as objects is enough.
   */
  fillEntry(entry, c, today) {
    const last = this.state.lastMessage(c);
    const typing = this.state.isTyping(c.id);
    // Only a live socket knows who is online: without one, no dot at all.
    const online = this.state.presence(c.peer.id) === 'online';
    const was = entry.shown;
    entry.shown = { peer: c.peer, online, last, typing, unread: c.unread, activity: c.last_activity_at, today };
    if (was.peer !== c.peer) {
      entry.avatar.replaceChildren(avatar(c.peer), el('span', { class: 'presence-dot', 'aria-hidden': 'true' }));
    }
    if (was.peer !== c.peer || was.online !== online) {
      entry.avatar.classList.toggle('online', online);
      clear(entry.top);
      append(entry.top, [
        el('span', { class: 'name', text: c.peer.display_name }),
        online ? el('span', { class: 'visually-hidden', text: ' (online)' }) : null,
        matrixBadge(c.peer),
        el('span', { class: 'username', text: handle(c.peer) }),
        entry.when,
      ]);
    }
    // An entry's time reads "today" or not by the day it is drawn on.
    if (was.last !== last || was.activity !== c.last_activity_at || was.today !== today) {
      entry.when.setAttribute('datetime', c.last_activity_at);
      entry.when.textContent = last ? shortWhen(last.created_at) : '';
    }
    if (was.last !== last || was.typing !== typing) {
      clear(entry.preview);
      append(entry.preview, [typing
        ? el('span', { class: 'typing-preview', text: 'typing…' })
        : last
          ? [previewFrom(last, this.state.me.id), last.deleted ? 'Message deleted' : last.body.split('\n')[0] || summary(last)]
          : el('span', { class: 'muted', text: 'No messages yet' })]);
    }
    if (was.unread !== c.unread) {
      entry.link.classList.toggle('has-unread', c.unread > 0);
      entry.badge?.remove();
      entry.badge = c.unread > 0
        ? el('span', { class: 'badge', title: `${c.unread} unread` },
          el('span', { 'aria-hidden': 'true', text: c.unread > 99 ? '99+' : String(c.unread) }),
          el('span', { class: 'visually-hidden', text: `, ${c.unread} unread` }))
        : null;
      if (entry.badge) entry.bottom.append(entry.badge);
    }
  }

  /** Back to the conversation list (a chat was opened from the results). */
  endSearch() {
    if (!this.search.value) return;
    this.search.value = '';
    this.runSearch();
  }

  async runSearch() {
    const q = this.search.value.trim();
    const seq = ++this.searchSeq;
    if (!q) {
      this.resultsSection.hidden = true;
      this.listSection.hidden = false;
      return;
    }
    let users;
    try {
      ({ users } = await api.search(q));
    } catch (e) {
      users = null;
      if (seq !== this.searchSeq) return;
      this.results.replaceChildren(el('li', { class: 'muted pad', text: e.message }));
    }
    // An older query answering late must not overwrite a newer one.
    if (seq !== this.searchSeq) return;
    this.resultsSection.hidden = false;
    this.listSection.hidden = true;
    if (!users) return;
    if (users.length === 0) {
      this.results.replaceChildren(el('li', { class: 'muted pad', text: `Nobody found for “${q}”.` }));
      return;
    }
    this.results.replaceChildren(...users.map((user) => el('li', {},
      el('a', {
        class: 'person',
        href: `/u/${user.id}`,
        on: {
          click: (event) => {
            event.preventDefault();
            this.navigate(`/u/${user.id}`);
          },
        },
      },
      avatar(user),
      el('span', { class: 'entry-main' },
        el('span', { class: 'name', text: user.display_name }),
        matrixBadge(user),
        el('span', { class: 'username', text: handle(user) }))))));
    this.syncResults();
  }
}

/** Who the list's preview says wrote the newest message: me, the bridge, or no one (the peer). */
function previewFrom(last, me) {
  if (last.kind === 'notice') return el('span', { class: 'notice-preview', text: 'Matrix bridge: ' });
  return last.sender_id === me ? el('span', { class: 'you', text: 'You: ' }) : null;
}

function svg(path, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const icon = document.createElementNS(ns, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('aria-hidden', 'true');
  icon.setAttribute('class', `icon ${label}`);
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', path);
  p.setAttribute('fill-rule', 'evenodd');
  icon.append(p);
  return icon;
}

export function bellIcon() {
  return svg('M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z', 'bell');
}

export function searchIcon() {
  return svg('M10 3a7 7 0 0 1 5.6 11.2l5.1 5.1-1.4 1.4-5.1-5.1A7 7 0 1 1 10 3zm0 2a5 5 0 1 0 0 10 5 5 0 0 0 0-10z', 'search-icon');
}

export function backIcon() {
  return svg('M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z', 'back');
}

export function bubblesIcon() {
  return svg('M5 3h14a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3H10l-5 4v-4a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3zm2 5v2h10V8zm0 4v2h7v-2z', 'bubbles');
}

export function sendIcon() {
  return svg('M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z', 'send');
}

export function attachIcon() {
  return svg('M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z', 'attach');
}

export function fileIcon() {
  return svg('M6 2a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8l-6-6zm7 7V3.5L18.5 9z', 'file-icon');
}
