// A conversation's messages as this client holds them: one array sorted by seq, so
// that the timeline can take the slice it shows by binary search instead of sorting
// everything on each change. A live message is the newest, so the common insert is
// a push; a page of history goes in front. No DOM here.
//
// It reads like a Map keyed by seq (`has`, `get`, `size`, `values()`), which is what
// it replaced.

export class MessageList {
  constructor() {
    /** Messages, ascending by seq, one per seq. */
    this.items = [];
  }

  get size() {
    return this.items.length;
  }

  /** The index of the first message with a seq of at least `seq` (`size` when none). */
  lowerBound(seq) {
    const items = this.items;
    let low = 0;
    let high = items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (items[mid].seq < seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The index of the message with this seq, or -1. */
  indexOf(seq) {
    const i = this.lowerBound(seq);
    return this.items[i]?.seq === seq ? i : -1;
  }

  has(seq) {
    return this.indexOf(seq) !== -1;
  }

  get(seq) {
    return this.items[this.indexOf(seq)];
  }

  /** The message at `index` in seq order. */
  at(index) {
    return this.items[index];
  }

  first() {
    return this.items[0];
  }

  last() {
    return this.items[this.items.length - 1];
  }

  /** Holds `message` in its place, replacing the one with its seq; true when it is new. */
  put(message) {
    const items = this.items;
    const last = items[items.length - 1];
    if (!last || last.seq < message.seq) {
      items.push(message);
      return true;
    }
    const i = this.lowerBound(message.seq);
    if (items[i].seq === message.seq) {
      items[i] = message;
      return false;
    }
    items.splice(i, 0, message);
    return true;
  }

  /** Messages from index `from` up to, not including, `to`. */
  slice(from, to) {
    return this.items.slice(from, to);
  }

  values() {
    return this.items.values();
  }

  [Symbol.iterator]() {
    return this.items.values();
  }
}
