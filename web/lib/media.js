// Attachments: uploading a file (`POST /api/media`) with its progress, and the words
// and sizes the views show for one. No DOM here.
//
// Uploads go through XMLHttpRequest, the one browser API that reports upload
// progress. An upload lives here from its first byte to its answer; the message that
// carries it goes through the send queue (lib/outbox.js) once the server holds the
// file, so that only a finished upload is ever resent after a reconnect. An upload
// still running when the page goes away is lost: the file itself is not kept.

/** The long side of a thumbnail's box, in CSS pixels (the server makes them no larger). */
export const THUMB_MAX = 320;

/** The image types a browser shows and the server serves inline. */
const INLINE_IMAGES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** Whether an attachment is shown as a picture (it has a size and a thumbnail). */
export function isImage(attachment) {
  return INLINE_IMAGES.has(attachment.content_type) && attachment.width > 0 && attachment.height > 0;
}

/** An image's box in the log: its aspect ratio, at most THUMB_MAX on its long side. */
export function thumbBox(width, height, max = THUMB_MAX) {
  const scale = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** A size in bytes as a person reads it: "820 B", "14 KB", "3.2 MB". */
export function humanSize(bytes) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/**
 * What a message says in one line (the list's preview, a quote, a notification): its
 * text, or for one that carries only a file, "📎" and the file's name.
 */
export function summary(message) {
  const text = message.body.replace(/\s+/g, ' ').trim();
  if (text || !message.attachment) return text;
  return `📎 ${message.attachment.name}`;
}

/** Why an upload was refused, in words, from its HTTP status and error body. */
export function uploadRefusal(status, error) {
  switch (status) {
    case 0:
      return 'The file could not be uploaded: the server cannot be reached. Check your connection.';
    case 413:
      return 'This file is too large to send.';
    case 429:
      return 'Too many files at once. Wait a moment, then try again.';
    case 400:
      return error?.field === 'file'
        ? 'This image cannot be read, or is too large. Try another file.'
        : error?.message ?? 'The server refused this file.';
    default:
      if (error?.code === 'quota_exceeded') return 'Your files have filled the space this server gives each person.';
      return error?.message ?? `The file could not be uploaded (the server answered ${status}).`;
  }
}

/**
 * Uploads `file` (a Blob with a `name`). `onProgress(loaded, total)` follows the
 * bytes sent. Returns `{ done, abort }`: `done` resolves with the server's media
 * (`{id, name, content_type, size, width, height}`) or rejects with an Error whose
 * message is in words (`aborted` true when `abort()` stopped it).
 */
export function upload(file, onProgress, Request = XMLHttpRequest) {
  const xhr = new Request();
  const done = new Promise((resolve, reject) => {
    const name = file.name || 'file';
    xhr.open('POST', `/api/media?filename=${encodeURIComponent(name)}`);
    xhr.responseType = 'json';
    if (file.type) xhr.setRequestHeader('Content-Type', file.type);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status === 201 && body?.media) resolve(body.media);
      else reject(new Error(uploadRefusal(xhr.status, body?.error)));
    });
    xhr.addEventListener('error', () => reject(new Error(uploadRefusal(0))));
    xhr.addEventListener('abort', () => reject(Object.assign(new Error('Upload cancelled.'), { aborted: true })));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
