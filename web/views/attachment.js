// A message's file: an image from its thumbnail, in a box of its final size from the
// start (the log must not move when it loads), that opens full size in a new tab; any
// other file as a chip with its name and size that downloads it. Names are the
// sender's words: they only ever become text.

import { el } from '../lib/dom.js';
import { humanSize, isImage, thumbBox } from '../lib/media.js';
import { fileIcon } from './sidebar.js';

/** The node for `attachment` (a message view's `attachment`). */
export function attachmentNode(attachment) {
  const url = `/api/media/${encodeURIComponent(attachment.id)}`;
  if (isImage(attachment)) {
    const box = thumbBox(attachment.width, attachment.height);
    const img = el('img', {
      src: `${url}/thumbnail`,
      alt: attachment.name,
      width: box.width,
      height: box.height,
      loading: 'lazy',
      decoding: 'async',
    });
    return el('a', {
      class: 'attachment-image',
      href: url,
      target: '_blank',
      rel: 'noopener',
      title: 'Open full size',
    }, img, el('span', { class: 'visually-hidden', text: ' (opens full size in a new tab)' }));
  }
  return el('a', {
    class: 'attachment-file',
    href: url,
    download: attachment.name,
    title: `Download ${attachment.name}`,
  },
  fileIcon(),
  el('span', { class: 'visually-hidden', text: 'Download ' }),
  el('span', { class: 'file-name', text: attachment.name }),
  el('span', { class: 'visually-hidden', text: ', ' }),
  el('span', { class: 'file-size', text: humanSize(attachment.size) }));
}
