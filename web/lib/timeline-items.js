// What the timeline shows for one slice of a conversation, in order: day separators,
// the unread divider, the messages, and after them my sends the server has not
// stored yet; each message with its key, its place in a run of one side's messages,
// and for mine its state. A notice (`kind: "notice"`: the Matrix bridge's words, in
// the name of the Matrix member) is the peer's for what is read, but runs with
// nothing. Plain data, no DOM: views/timeline.js makes a node once per key and
// afterwards only updates what an item says differently.

import { groupByDay } from './time.js';

/** Messages of one side closer together than this run on as one group. */
const RUN_MS = 5 * 60_000;

/**
 * The items of a slice.
 * - `messages`: the stored messages of the slice, ascending by seq;
 * - `pending`: my unacknowledged sends (the send queue's entries), oldest first,
 *   shown after them; an entry whose stored copy is in `messages` is left out;
 * - `me`: my user id;
 * - `dividerBefore`: the seq of the first unread message, or null for no divider;
 * - `peerReadUpTo`: the peer's read marker (my messages up to it are "seen");
 * - `lastMineSeq`: my newest stored message in the whole conversation, the one that
 *   says its state out loud (pending ones always do).
 *
 * Keys: mine by `t<txn_id>` (so the pending copy and the stored one are one node),
 * the rest by `s<seq>`, days by date and label (after midnight "Today" is renamed).
 */
export function timelineItems({
  messages,
  pending = [],
  me,
  dividerBefore = null,
  peerReadUpTo = 0,
  lastMineSeq = 0,
  now = new Date(),
}) {
  const entries = [];
  const storedTxns = new Set();
  for (const m of messages) {
    const mine = m.sender_id === me;
    if (mine && m.txn_id) storedTxns.add(m.txn_id);
    entries.push({ kind: 'message', message: m, mine, notice: m.kind === 'notice' });
  }
  for (const p of pending) {
    if (!storedTxns.has(p.txn_id)) entries.push({ kind: 'pending', message: p, mine: true });
  }

  const items = [];
  for (const group of groupByDay(entries, (e) => e.message.created_at, now)) {
    items.push({ key: `d${group.day}:${group.label}`, kind: 'day', label: group.label });
    let previous = null;
    for (const item of group.items) {
      const m = item.message;
      if (item.kind === 'message' && m.seq === dividerBefore) {
        items.push({ key: 'unread', kind: 'divider' });
        previous = null;
      }
      item.key = item.mine && m.txn_id ? `t${m.txn_id}` : `s${m.seq}`;
      item.at = Date.parse(m.created_at);
      item.continues = previous !== null && !previous.notice && !item.notice
        && previous.mine === item.mine && item.at - previous.at < RUN_MS;
      item.followed = false;
      if (previous) previous.followed = item.continues;
      if (item.kind === 'pending') {
        item.status = m.state === 'failed' ? 'failed' : 'sending';
        item.showStatus = true;
      } else if (item.mine) {
        item.status = m.seq <= peerReadUpTo ? 'seen' : 'sent';
        item.showStatus = m.seq === lastMineSeq;
      }
      items.push(item);
      previous = item;
    }
  }
  return items;
}
