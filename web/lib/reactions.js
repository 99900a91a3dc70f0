// Reactions as sets, and what the client checks of a reply, an edit or a reaction
// before sending it. No DOM here.
//
// A message's `reactions` is a list of `{key, user_ids}` in the order each key first
// appeared (the server's order). A `reaction` event is applied as a set operation:
// `on` adds the user if absent, off removes them, and a key whose list empties goes,
// so the same event applied twice (live, then again through `resume`) is harmless.

/** The reactions offered at a click (and first in the message menu). */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

/** The most bytes of UTF-8 in a reaction key. */
export const MAX_KEY_BYTES = 64;

/** A reaction list with `userId`'s `key` on or off; the same list when nothing changes. */
export function applyReaction(reactions, userId, key, on) {
  const list = reactions ?? [];
  const i = list.findIndex((r) => r.key === key);
  if (on) {
    if (i >= 0 && list[i].user_ids.includes(userId)) return list;
    if (i < 0) return [...list, { key, user_ids: [userId] }];
    return list.map((r, j) => (j === i ? { key, user_ids: [...r.user_ids, userId] } : r));
  }
  if (i < 0 || !list[i].user_ids.includes(userId)) return list;
  const left = list[i].user_ids.filter((id) => id !== userId);
  return left.length ? list.map((r, j) => (j === i ? { key, user_ids: left } : r)) : list.filter((_, j) => j !== i);
}

/** Whether `userId` has reacted with `key`. */
export function hasReacted(reactions, userId, key) {
  return (reactions ?? []).some((r) => r.key === key && r.user_ids.includes(userId));
}

/**
 * Why a typed reaction cannot be sent, in words, or null when it can: 1 to 64 bytes
 * of UTF-8, not blank, no control characters (the server's rule).
 */
export function reactionKeyError(key) {
  if (typeof key !== 'string' || key.trim() === '') return 'Type an emoji or a short word.';
  if (new TextEncoder().encode(key).length > MAX_KEY_BYTES) return 'A reaction is at most 64 bytes long.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(key)) return 'A reaction cannot hold control characters.';
  return null;
}

/**
 * Who reacted, by name: `names(userId)` gives a person's display name. "👍 Alice, Bob".
 */
export function reactionLabel(reaction, names) {
  return `${reaction.key} ${reaction.user_ids.map(names).join(', ')}`;
}

/** A message's text in a line or so: for a quote of it. */
export function snippet(body, max = 140) {
  const line = body.replace(/\s+/g, ' ').trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : line;
}

/** Why the server refused an edit, a delete or a reaction, in words. */
export function actionRefusal(error, what) {
  switch (error?.code) {
    case 'not_yours':
      return `Only its sender can ${what} a message.`;
    case 'deleted':
      return 'This message was deleted.';
    case 'too_many_reactions':
      return 'This message has as many different reactions as it can take.';
    case 'not_found':
      return 'This message is not there any more.';
    case 'rate_limited':
      return `Too many changes at once. Try again in ${error.retry_after_secs ?? 'a few'} seconds.`;
    case 'invalid_input':
      return error.message || 'The server did not take it.';
    default:
      if (error?.message === 'offline') return `Not connected: you can ${what} it once the connection is back.`;
      return error?.message || 'The server did not take it.';
  }
}
