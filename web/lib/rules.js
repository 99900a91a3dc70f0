// The server's rules for what people type (src/chat/input.rs), checked here as they
// type, so that a form or the message box says what is wrong before anything is sent.
// The server checks again and stays the judge; these only spare a round trip and put
// the rule in words next to the field.

/** What the username field says under itself, before anything is typed. */
export const USERNAME_RULE = '3 to 32 characters: letters a–z, digits, “.”, “_” or “-”, starting with a letter or digit.';
export const PASSWORD_RULE = 'At least 8 characters.';

const USERNAME_MIN = 3;
const USERNAME_MAX = 32;
const PASSWORD_MIN = 8;
const DISPLAY_NAME_MAX = 64;

/**
 * What is wrong with a username, in words, or null. `typing`: the person is still
 * typing, so a name that is only too short yet is not called wrong.
 */
export function usernameProblem(value, { typing = false } = {}) {
  if (value === '') return typing ? null : 'Choose a username.';
  const odd = [...value].find((c) => !/[A-Za-z0-9._-]/.test(c));
  if (odd !== undefined) {
    return odd.trim() === '' ? 'A username cannot contain spaces.' : `A username cannot contain “${odd}”.`;
  }
  if (!/^[A-Za-z0-9]/.test(value)) return 'A username starts with a letter or a digit.';
  if (value.length > USERNAME_MAX) return `A username is at most ${USERNAME_MAX} characters.`;
  if (value.length < USERNAME_MIN && !typing) return `A username is at least ${USERNAME_MIN} characters.`;
  return null;
}

/** What is wrong with a new password, or null (the server counts characters). */
export function passwordProblem(value, { typing = false } = {}) {
  if (typing) return null;
  if ([...value].length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  return null;
}

/** What is wrong with a display name, or null: the server trims it and keeps 1 to 64 characters. */
export function displayNameProblem(value) {
  if (value.trim() === '') return 'A name cannot be empty.';
  if ([...value].length > DISPLAY_NAME_MAX) return `A name is at most ${DISPLAY_NAME_MAX} characters.`;
  // Control characters (category Cc), which the server refuses.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return 'A name cannot contain control characters.';
  return null;
}

/**
 * The largest message body, in bytes (UTF-8): the server's default
 * `limits.max_message_bytes`. The server does not tell a client its own setting (not
 * in `hello`, not in `/api/me`), so a server configured lower still refuses some
 * messages this lets through; they then fail with the server's reason.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** How close to the limit the message box starts counting. */
const COUNT_FROM = 0.9;

/**
 * The size of a message against the limit: `{ bytes, left }` (`left` below zero when
 * over), or null while it is far enough below the limit not to count. A string of n
 * UTF-16 units is at most 3n bytes, so most keystrokes skip the counting.
 */
export function messageSize(body, limit = MAX_MESSAGE_BYTES) {
  if (body.length * 3 < limit * COUNT_FROM) return null;
  const bytes = utf8Length(body);
  if (bytes < limit * COUNT_FROM) return null;
  return { bytes, left: limit - bytes };
}

/** UTF-8 length without building the bytes. */
export function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
