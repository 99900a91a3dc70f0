// Dates as people read them in a chat: days as "Today", "Yesterday", a weekday or a
// date, and times as hours and minutes, in the browser's locale and time zone: the
// locale decides between "17:05" and "5:05 PM", nothing here fixes a 12-hour clock.
//
// Formatters are made once per locale and options: making one is far dearer than
// formatting with it, and a timeline formats a time for every message it draws.

const formatters = new Map();

/** An `Intl.DateTimeFormat` for `locale` (the browser's when undefined), kept. */
function formatter(locale, options) {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, format);
  }
  return format;
}

/** The local calendar day of `date`, as `YYYY-MM-DD`: the key messages group by. */
export function dayKey(date) {
  const d = new Date(date);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The heading of a day: "Today", "Yesterday", a weekday this week, else a date. */
export function dayLabel(date, now = new Date()) {
  const d = new Date(date);
  const startOf = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate());
  const days = Math.round((startOf(now) - startOf(d)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return formatter(undefined, { weekday: 'long' }).format(d);
  const sameYear = d.getFullYear() === now.getFullYear();
  return formatter(undefined, sameYear
    ? { day: 'numeric', month: 'long' }
    : { day: 'numeric', month: 'long', year: 'numeric' }).format(d);
}

/** Hours and minutes, as the locale writes them (`locale`: the browser's by default). */
export function timeLabel(date, locale = undefined) {
  return formatter(locale, { hour: 'numeric', minute: '2-digit' }).format(new Date(date));
}

/** The full date and time, for a tooltip. */
export function fullLabel(date) {
  return formatter(undefined, { dateStyle: 'full', timeStyle: 'short' }).format(new Date(date));
}

/** The time of a conversation's last activity in a list: a time today, else a short date. */
export function shortWhen(date, now = new Date()) {
  const d = new Date(date);
  if (dayKey(d) === dayKey(now)) return timeLabel(d);
  const days = (now - d) / 86_400_000;
  if (days < 7) return formatter(undefined, { weekday: 'short' }).format(d);
  return formatter(undefined, { day: 'numeric', month: 'short' }).format(d);
}

/**
 * Groups items (oldest first) by local day: `[{ day, label, items }]` in order.
 * `at(item)` gives an item's date.
 */
export function groupByDay(items, at, now = new Date()) {
  const groups = [];
  for (const item of items) {
    const when = at(item);
    const day = dayKey(when);
    let group = groups[groups.length - 1];
    if (!group || group.day !== day) {
      group = { day, label: dayLabel(when, now), items: [] };
      groups.push(group);
    }
    group.items.push(item);
  }
  return groups;
}
