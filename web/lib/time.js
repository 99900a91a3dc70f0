// Dates as people read them in a chat: days as "Today", "Yesterday", a weekday or a
// date, and times as hours and minutes, in the browser's locale and time zone
// (`Intl.DateTimeFormat`: "17:05" where the locale writes 24 hours, "5:05 PM" where
// it writes 12). The formats are made once: making one costs more than using it, and
// a long chat formats thousands of times.

const format = (options) => new Intl.DateTimeFormat(undefined, options);
const TIME = format({ timeStyle: 'short' });
const WEEKDAY = format({ weekday: 'long' });
const WEEKDAY_SHORT = format({ weekday: 'short' });
const DATE = format({ day: 'numeric', month: 'long' });
const DATE_WITH_YEAR = format({ day: 'numeric', month: 'long', year: 'numeric' });
const DATE_SHORT = format({ day: 'numeric', month: 'short' });

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
  if (days > 1 && days < 7) return WEEKDAY.format(d);
  return (d.getFullYear() === now.getFullYear() ? DATE : DATE_WITH_YEAR).format(d);
}

/** Hours and minutes, as the locale writes them. */
export function timeLabel(date) {
  return TIME.format(new Date(date));
}

/** The time of a conversation's last activity in a list: a time today, else a short date. */
export function shortWhen(date, now = new Date()) {
  const d = new Date(date);
  if (dayKey(d) === dayKey(now)) return timeLabel(d);
  const days = (now - d) / 86_400_000;
  if (days < 7) return WEEKDAY_SHORT.format(d);
  return DATE_SHORT.format(d);
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
