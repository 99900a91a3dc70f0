// The realtime socket, kept open: reconnects with exponential backoff and jitter,
// notices a dead link with pings, tells the app when the session is over. No DOM
// and no chat state here: frames go to `onFrame`, state changes to `onState`.

/** Close code the server uses when the session ended (logout) or expired. */
export const SESSION_ENDED = 4001;
/** Close code for a frame over the server's size limit. */
export const FRAME_TOO_LARGE = 1009;

/**
 * The wait before reconnect attempt `attempt` (0 for the first): doubling from
 * `base` up to `cap`, with "equal jitter" (half fixed, half random), so clients cut
 * off together do not all come back in the same instant.
 */
export function backoffDelay(attempt, { base = 500, cap = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}

const PING_EVERY_MS = 25_000;
/** No frame at all for this long (pings included) means the link is dead. */
const SILENCE_LIMIT_MS = 60_000;
/**
 * No `hello` this long after a socket is opened means it never will come: Chromium
 * can leave a socket to an address nobody answers at "connecting", firing neither
 * `open` nor `close`.
 */
const CONNECT_LIMIT_MS = 15_000;

export class Connection {
  /**
   * `onFrame(frame)`: every frame from the server. `onState(state)`: "connecting"
   * (at the start, and during each attempt to reconnect), "online" (after `hello`)
   * or "offline" (lost, the next attempt is scheduled).
   * `onSessionEnded()`: the session is over; the connection has stopped.
   * `checkSession()`: resolves "ok", "ended" or "unreachable"; asked before each
   * reconnect, since a refused upgrade does not tell the browser why.
   * `onFrameTooLarge()`: the server closed the socket over a frame too large; the
   * connection reconnects after it, so what caused it must not be sent again.
   */
  constructor({ url, onFrame, onState, onSessionEnded, checkSession, onFrameTooLarge }) {
    Object.assign(this, { url, onFrame, onState, onSessionEnded, checkSession, onFrameTooLarge });
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.state = 'connecting';
    this.nextReq = 1;
    this.waiting = new Map();
    this.timer = null;
    this.lastFrameAt = Date.now();
    this.onBrowserOnline = () => {
      if (this.state === 'offline') this.reconnectNow();
    };
  }

  start() {
    window.addEventListener('online', this.onBrowserOnline);
    this.heartbeat = setInterval(() => this.beat(), PING_EVERY_MS);
    this.open();
  }

  /** Closes for good (logout). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    clearInterval(this.heartbeat);
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.failWaiting();
    if (this.socket) this.socket.close(1000, 'bye');
  }

  /** Sends a frame if the socket is open; false when it is not (the caller keeps it). */
  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN || this.state !== 'online') {
      return false;
    }
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame with a fresh `req` and resolves with the answer that echoes it. */
  request(frame) {
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, req })) {
        reject(new Error('offline'));
        return;
      }
      this.waiting.set(req, { resolve, reject });
    });
  }

  open() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (socket === this.socket && this.state !== 'online') this.abandon();
    }, CONNECT_LIMIT_MS);
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === 'hello') {
        clearTimeout(this.connectTimer);
        this.attempt = 0;
        this.setState('online');
      }
      if (frame.req !== undefined && this.waiting.has(frame.req)) {
        const { resolve, reject } = this.waiting.get(frame.req);
        this.waiting.delete(frame.req);
        if (frame.type === 'error') reject(Object.assign(new Error(frame.message), frame));
        else resolve(frame);
      }
      this.onFrame(frame);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.lost(event.code);
    };
  }

  lost(code) {
    this.socket = null;
    this.failWaiting();
    if (this.stopped) return;
    if (code === SESSION_ENDED) {
      this.stop();
      this.onSessionEnded();
      return;
    }
    if (code === FRAME_TOO_LARGE) this.onFrameTooLarge();
    this.setState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reconnect(), backoffDelay(this.attempt));
    this.attempt += 1;
  }

  /** Tries at once instead of waiting out the backoff (the offline banner's button). */
  reconnectNow() {
    clearTimeout(this.timer);
    this.reconnect();
  }

  async reconnect() {
    if (this.stopped || this.socket) return;
    this.setState('connecting');
    const session = await this.checkSession();
    if (this.stopped || this.socket) return;
    if (session === 'ended') {
      this.stop();
      this.onSessionEnded();
    } else if (session === 'ok') {
      this.open();
    } else {
      this.setState('offline');
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reconnect(), backoffDelay(this.attempt));
      this.attempt += 1;
    }
  }

  beat() {
    if (this.state !== 'online' || !this.socket) return;
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
      this.abandon();
      return;
    }
    this.send({ type: 'ping' });
  }

  /** Drops a socket that may never fire `close` (a half-open link), and reconnects. */
  abandon() {
    const dead = this.socket;
    this.socket = null;
    dead.onclose = null;
    dead.close();
    this.lost(1006);
  }

  failWaiting() {
    for (const { reject } of this.waiting.values()) reject(new Error('offline'));
    this.waiting.clear();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onState(state);
  }
}
