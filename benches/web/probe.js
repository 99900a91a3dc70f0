// The browser benchmark's instruments, installed before the client's own scripts
// (CDP `Page.addScriptToEvaluateOnNewDocument`), so that its listeners run before the
// client's and its WebSocket is the one the client opens. It knows the client only
// by what a person sees: elements in the page, frames on the socket, painted frames.
//
// Two measures, both ending with the frame that shows the result painted, i.e. when
// the main thread has finished that frame's rendering (a task posted from the
// frame's first `requestAnimationFrame` callback runs once style, layout and paint
// are done):
// - `wall`: from the first moment the page sees the input to that point.
// - `work`: the main thread's time for it, without the wait for the display's next
//   frame (headless Chromium draws at 60 Hz, so a 1 ms handler would otherwise cost
//   up to 16.7 ms): from the input to the end of the client's handlers of it,
//   plus the rendering of the next frame. When the result is not in that frame
//   (the client defers it), `work` is `wall`: the wait is then the client's own.
(() => {
  if (window.top !== window || window.__bench) return;
  const now = () => performance.now();

  // Runs `f(time)` as a task of its own: after the current task, and after the
  // rendering when posted from a requestAnimationFrame callback.
  const channel = new MessageChannel();
  const queued = [];
  channel.port1.onmessage = () => queued.shift()?.(now());
  const afterTask = (f) => {
    queued.push(f);
    channel.port2.postMessage(null);
  };

  // When the client's handlers of the input being measured were last seen done: set
  // by listeners that run after the client's (window's bubbling phase for DOM
  // events; a socket listener added after the client's own).
  let handled = null;
  const done = () => { handled = now(); };

  /** Resolves `{wall, work}` for an input seen at `t0`, once `shown()` holds at the end of a frame. */
  function measure(t0, shown) {
    handled = null;
    return new Promise((resolve) => {
      let first = true;
      const frame = () => {
        const start = now();
        const dispatched = handled ?? start;
        afterTask((end) => {
          if (shown()) {
            resolve({ wall: end - t0, work: first ? (dispatched - t0) + (end - start) : end - t0 });
          } else {
            first = false;
            requestAnimationFrame(frame);
          }
        });
      };
      requestAnimationFrame(frame);
    });
  }

  const bench = {
    results: [],
    armed: null,
    busyUntil: 0,
    socketChars: 0,
    list: null,
  };
  Object.defineProperty(window, '__bench', { value: bench });

  function record(name, t0, shown) {
    measure(t0, shown).then((result) => bench.results.push({ name, ...result }));
  }

  /**
   * The next input of `kind` is measured as `name`: `kind` is `'pointer'` (the
   * press of a click), `'key'` (a keydown) or `'frame:<type>'` (a socket frame of
   * that type, whose parsed object `match` may refuse). `shown(frame)` says when
   * the page shows its result.
   */
  bench.arm = (name, kind, shown = () => true, match = () => true) => {
    bench.armed = { name, kind, shown, match };
  };
  bench.take = (name) => {
    const i = bench.results.findIndex((r) => r.name === name);
    return i < 0 ? null : bench.results.splice(i, 1)[0];
  };

  function fire(kind, t0, frame) {
    const armed = bench.armed;
    if (!armed || armed.kind !== kind || !armed.match(frame)) return;
    bench.armed = null;
    record(armed.name, t0, () => armed.shown(frame));
  }
  for (const type of ['pointerdown', 'mousedown', 'click']) {
    window.addEventListener(type, () => fire('pointer', now()), { capture: true });
  }
  window.addEventListener('keydown', () => fire('key', now()), { capture: true });
  for (const type of ['pointerdown', 'mousedown', 'click', 'keydown', 'keypress', 'beforeinput', 'input']) {
    window.addEventListener(type, done);
  }

  // The client's socket, with a first listener of ours: the moment a frame reaches
  // the page, before the client's own handler runs.
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      let doneListening = false;
      this.addEventListener('message', (event) => {
        const t0 = now();
        if (!doneListening) {
          // Added during the first frame, so after the client's own listener.
          doneListening = true;
          this.addEventListener('message', done);
        }
        bench.socketChars += typeof event.data === 'string' ? event.data.length : 0;
        const kind = bench.armed?.kind;
        if (kind?.startsWith('frame:') && typeof event.data === 'string') {
          let frame = null;
          try { frame = JSON.parse(event.data); } catch { return; }
          fire(`frame:${frame.type}`, t0, frame);
        }
      });
    }
  };

  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) bench.busyUntil = Math.max(bench.busyUntil, e.startTime + e.duration);
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // No long tasks: idle is then judged by the list alone.
  }

  // The list: the first painted frame with an entry in it.
  bench.watchList = (selector) => {
    const frame = () => {
      afterTask((end) => {
        if (document.querySelector(selector)) {
          bench.list = { shown: end, socketChars: bench.socketChars };
        } else {
          requestAnimationFrame(frame);
        }
      });
    };
    requestAnimationFrame(frame);
  };

  /**
   * Whether the page has been idle (no long task) for `quietMs` since the list
   * showed; then when the navigation was complete: the list shown, and the last
   * long task before the quiet over.
   */
  bench.loaded = (quietMs) => {
    if (!bench.list) return null;
    const busyUntil = Math.max(bench.list.shown, bench.busyUntil);
    if (now() - busyUntil < quietMs) return null;
    const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
    const bytes = (filter) => entries.filter(filter).reduce((sum, e) => sum + (e.transferSize || 0), 0);
    const api = (e) => new URL(e.name).pathname.startsWith('/api/');
    return {
      complete: busyUntil,
      listShown: bench.list.shown,
      transferred: bytes(() => true),
      api: bytes(api),
      requests: entries.length,
      socketChars: bench.list.socketChars,
    };
  };

  /** Whether no long task has run for `quietMs`. */
  bench.quiet = (quietMs) => now() - bench.busyUntil >= quietMs;

  /** The nearest ancestor of `node` that scrolls vertically. */
  function scroller(node) {
    for (let e = node?.parentElement; e; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && e.scrollHeight > e.clientHeight) return e;
    }
    return document.scrollingElement;
  }

  /**
   * Scrolls the log that holds `messageSelector` up by `stepPx` every frame until
   * `startSelector` (the conversation's first message) is in the page and the log is
   * at its top, or nothing moved for `stallMs`. Each frame's interval (between
   * requestAnimationFrame callbacks) and work (from its first scroll event or
   * callback to the end of its rendering) is kept.
   */
  bench.scroll = (messageSelector, startSelector, stepPx, stallMs) => {
    const run = { intervals: [], works: [], done: false, reached: false, px: 0 };
    bench.scrolling = run;
    const log = scroller(document.querySelector(messageSelector));
    let frameStart = null;
    const onScroll = () => { frameStart ??= now(); };
    window.addEventListener('scroll', onScroll, { capture: true, passive: true });
    let last = null;
    let lastMove = now();
    let lastShape = '';
    const step = () => {
      const start = now();
      const began = Math.min(frameStart ?? start, start);
      frameStart = null;
      if (last !== null) run.intervals.push(start - last);
      last = start;
      const shape = `${log.scrollTop}:${log.scrollHeight}`;
      if (shape !== lastShape) {
        lastShape = shape;
        lastMove = start;
      }
      const atTop = log.scrollTop <= 0;
      run.reached = atTop && document.querySelector(startSelector) !== null;
      const finished = run.reached || start - lastMove > stallMs;
      if (!finished) {
        const before = log.scrollTop;
        log.scrollTop = Math.max(0, before - stepPx);
        run.px += before - log.scrollTop;
        requestAnimationFrame(step);
      }
      afterTask((end) => {
        run.works.push(end - began);
        if (finished) {
          window.removeEventListener('scroll', onScroll, { capture: true });
          run.done = true;
        }
      });
    };
    requestAnimationFrame(step);
  };

  /** Elements in the page. */
  bench.nodes = () => document.getElementsByTagName('*').length;
})();
