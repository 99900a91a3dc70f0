// Unit tests of the web client's pure modules, run inside Chromium on the served page
// (tests/browser/units.rs passes this file to WebDriver's "execute async script").
// The modules are imported from the page's own asset URLs, so what is tested is what
// the server serves. Resolves WebDriver's callback with { passed, failures }.

const done = arguments[arguments.length - 1];

(async () => {
  const base = new URL('.', document.querySelector('script[type=module]').src);
  const { handle, linkify, matrixBadge } = await import(new URL('lib/dom.js', base));
  const { MIN_FRAME_LIMIT, SendQueue, newTxnId, refusalReason, retryable } = await import(new URL('lib/outbox.js', base));
  const { groupByDay, dayKey, dayLabel, timeLabel } = await import(new URL('lib/time.js', base));
  const { MessageList } = await import(new URL('lib/messages.js', base));
  const { timelineItems } = await import(new URL('lib/timeline-items.js', base));
  const { backoffDelay } = await import(new URL('lib/connection.js', base));
  const { ChatState } = await import(new URL('lib/state.js', base));
  const { UserStorage } = await import(new URL('lib/storage.js', base));
  const rules = await import(new URL('lib/rules.js', base));
  const { nextUnread } = await import(new URL('views/sidebar.js', base));
  const { authError } = await import(new URL('views/auth.js', base));
  const reactions = await import(new URL('lib/reactions.js', base));
  const media = await import(new URL('lib/media.js', base));
  const { Uploads } = await import(new URL('lib/uploads.js', base));

  const failures = [];
  let passed = 0;
  const test = (name, body) => {
    try {
      body();
      passed += 1;
    } catch (e) {
      failures.push(`${name}: ${e.message}`);
    }
  };
  const testAsync = async (name, body) => {
    try {
      await body();
      passed += 1;
    } catch (e) {
      failures.push(`${name}: ${e.message}`);
    }
  };
  const eq = (actual, expected, what = '') => {
    const a = JSON.stringify(actual);
    const b = JSON.stringify(expected);
    if (a !== b) throw new Error(`${what} expected ${b}, got ${a}`);
  };
  // A linkified text as [kind, text, href?] parts.
  const parts = (text) => linkify(text).map((n) =>
    n.nodeType === Node.TEXT_NODE ? ['text', n.textContent] : ['a', n.textContent, n.getAttribute('href'), n.rel, n.target]);

  test('linkify leaves plain text alone', () => {
    eq(parts('just words'), [['text', 'just words']]);
    eq(parts(''), []);
  });
  test('linkify links http and https with a safe rel', () => {
    eq(parts('see https://example.org/x?y=1#z now'), [
      ['text', 'see '],
      ['a', 'https://example.org/x?y=1#z', 'https://example.org/x?y=1#z', 'noopener noreferrer', '_blank'],
      ['text', ' now'],
    ]);
    eq(parts('http://a.example')[0].slice(0, 3), ['a', 'http://a.example', 'http://a.example/']);
  });
  test('linkify never links other schemes', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,<script>', 'ftp://example.org', 'mailto:a@b.c']) {
      eq(parts(text), [['text', text]], text);
    }
  });
  test('linkify keeps trailing punctuation out, balanced parentheses in', () => {
    eq(parts('(at https://example.org/a.)'), [
      ['text', '(at '],
      ['a', 'https://example.org/a', 'https://example.org/a', 'noopener noreferrer', '_blank'],
      ['text', '.)'],
    ]);
    eq(parts('https://en.wikipedia.org/wiki/Rust_(language), ok')[0][1], 'https://en.wikipedia.org/wiki/Rust_(language)');
  });
  test('linkify makes markup text, never elements', () => {
    const nodes = linkify('<img src=x onerror=alert(1)> https://example.org/"><b>');
    eq(nodes.map((n) => n.nodeName), ['#text', 'A', '#text']);
    eq(nodes.map((n) => n.textContent).join(''), '<img src=x onerror=alert(1)> https://example.org/"><b>');
    eq(nodes[1].textContent, 'https://example.org/');
  });

  test('txn ids are unique and fit the server rule', () => {
    const ids = new Set(Array.from({ length: 200 }, newTxnId));
    eq(ids.size, 200);
    for (const id of ids) if (id.length > 128 || /[\u0000-\u001f]/.test(id)) throw new Error(id);
  });
  // A connection as the send queue sees it: `send` says whether the frame went out.
  const sendQueue = () => {
    const connection = {
      open: true,
      frames: [],
      send(frame) {
        if (!this.open) return false;
        this.frames.push(frame);
        return true;
      },
    };
    const changes = [];
    const queue = new SendQueue({ connection, onChange: (entry, change) => changes.push(`${change} ${entry.body}`) });
    return { queue, connection, changes };
  };
  const sentAnswer = (frame) => ({ type: 'sent', req: frame.req, txn_id: frame.txn_id, message: {} });

  test('the send queue sends at once, in order, each with its own txn id', () => {
    const { queue, connection, changes } = sendQueue();
    const a = queue.add(1, 'first');
    const b = queue.add(1, 'second');
    const c = queue.add(2, 'elsewhere');
    eq(connection.frames.map((f) => [f.type, f.conversation_id, f.body, f.txn_id]), [
      ['send', 1, 'first', a.txn_id], ['send', 1, 'second', b.txn_id], ['send', 2, 'elsewhere', c.txn_id],
    ]);
    eq(new Set(connection.frames.map((f) => f.req)).size, 3, 'one request id each');
    eq(queue.pending(1).map((e) => [e.body, e.state]), [['first', 'sending'], ['second', 'sending']]);
    eq(changes, ['added first', 'added second', 'added elsewhere']);
  });
  test('a sent answer is matched by its txn id, and a repeat of it is harmless', () => {
    const { queue, connection, changes } = sendQueue();
    const a = queue.add(1, 'first');
    queue.add(1, 'second');
    const [first, second] = connection.frames;
    eq(queue.acknowledge(sentAnswer(second)).body, 'second', 'answers may come out of order');
    eq(queue.acknowledge(sentAnswer(second)), null, 'a second sent for the same txn');
    eq(queue.acknowledge({ type: 'sent', req: 's99', txn_id: 'web-unknown', message: {} }), null);
    eq(queue.pending(1).map((e) => e.txn_id), [a.txn_id]);
    queue.acknowledge(sentAnswer(first));
    eq(queue.pending(1), []);
    eq(changes.filter((c) => c.startsWith('sent')), ['sent second', 'sent first']);
  });
  test('offline, a send waits; a reconnect re-sends only the unacknowledged, in order, with their txn ids', () => {
    const { queue, connection } = sendQueue();
    const a = queue.add(1, 'acknowledged');
    const b = queue.add(1, 'in flight');
    const refused = queue.add(1, 'refused');
    queue.acknowledge(sentAnswer(connection.frames[0]));
    queue.refuse({ type: 'error', req: connection.frames[2].req, message: 'no' });
    const oldReq = connection.frames[1].req;
    connection.open = false;
    queue.disconnected();
    const c = queue.add(2, 'written offline');
    eq([b.state, c.state, refused.state], ['waiting', 'waiting', 'failed']);
    eq(connection.frames.length, 3, 'nothing goes out while closed');
    connection.open = true;
    connection.frames = [];
    queue.connected();
    eq(connection.frames.map((f) => f.txn_id), [b.txn_id, c.txn_id]);
    eq([b.state, c.state], ['sending', 'sending']);
    if (connection.frames.some((f) => f.req === oldReq)) throw new Error('a request id of the old connection');
    if (queue.pending(1).some((e) => e.txn_id === a.txn_id)) throw new Error('the acknowledged one came back');
  });
  test('an error answer to a send marks it failed; other errors are not the queue\'s', () => {
    const { queue, connection, changes } = sendQueue();
    const a = queue.add(1, 'x');
    const req = connection.frames[0].req;
    eq(queue.refuse({ type: 'error', req: 7, code: 'not_found', message: 'a history request' }), null);
    eq(a.state, 'sending');
    eq(queue.refuse({ type: 'error', req, code: 'too_large', message: 'too long' }), a);
    eq([a.state, a.error], ['failed', 'too long']);
    eq(queue.refuse({ type: 'error', req, message: 'again' }), null, 'a repeated error');
    eq(changes, ['added x', 'failed x']);
    connection.frames = [];
    queue.connected();
    eq(connection.frames, [], 'a failed send is not resent on reconnect');
  });
  test('a send the server asks to wait goes out again by itself, once, after the time given', () => {
    const { queue, connection, changes } = sendQueue();
    const timers = [];
    queue.later = (run, ms) => timers.push({ run, ms });
    const a = queue.add(1, 'x');
    eq(queue.refuse({ type: 'error', req: connection.frames[0].req, code: 'rate_limited', message: 'too many', retry_after_secs: 3 }), a);
    eq([a.state, a.error], ['waiting', null], 'not failed: nothing for the person to do');
    eq(timers.map((t) => t.ms), [3000]);
    timers[0].run();
    eq(connection.frames.map((f) => f.txn_id), [a.txn_id, a.txn_id], 'the same txn id');
    eq(a.state, 'sending');
    queue.acknowledge(sentAnswer(connection.frames[1]));
    timers[0].run();
    eq(connection.frames.length, 2, 'a stale timer sends nothing');
    eq(changes, ['added x', 'sent x']);
  });
  test('retry sends a failed entry again with the same txn id, and only a failed one', () => {
    const { queue, connection, changes } = sendQueue();
    const a = queue.add(1, 'x');
    eq(queue.retry(a.txn_id), null, 'one still sending');
    eq(connection.frames.length, 1);
    queue.refuse({ type: 'error', req: connection.frames[0].req, message: 'busy' });
    connection.open = false;
    eq(queue.retry(a.txn_id), a);
    eq([a.state, a.error], ['waiting', null], 'retried while offline, it waits');
    connection.open = true;
    queue.connected();
    eq(connection.frames.map((f) => f.txn_id), [a.txn_id, a.txn_id]);
    if (connection.frames[0].req === connection.frames[1].req) throw new Error('the same request id');
    eq(a.state, 'sending');
    eq(changes, ['added x', 'failed x', 'retried x']);
    eq(queue.retry('web-unknown'), null);
  });
  test('discard drops a failed entry, and only a failed one', () => {
    const { queue, connection, changes } = sendQueue();
    const a = queue.add(1, 'x');
    eq(queue.discard(a.txn_id), null, 'one on the wire may be stored already');
    queue.refuse({ type: 'error', req: connection.frames[0].req, message: 'no' });
    eq(queue.discard(a.txn_id), a);
    eq(queue.pending(1), []);
    eq(queue.discard(a.txn_id), null);
    connection.frames = [];
    queue.connected();
    eq(connection.frames, []);
    eq(changes, ['added x', 'failed x', 'discarded x']);
  });
  test('a frame too large fails the sends no server takes, and only those', () => {
    const { queue, connection } = sendQueue();
    const small = queue.add(1, 'short');
    const big = queue.add(1, 'x'.repeat(MIN_FRAME_LIMIT));
    connection.open = false;
    queue.frameTooLarge();
    queue.disconnected();
    eq([small.state, big.state], ['waiting', 'failed']);
    eq(big.error, 'Too long to send. Shorten it, or send it in parts.');
    connection.open = true;
    connection.frames = [];
    queue.connected();
    eq(connection.frames.map((f) => f.txn_id), [small.txn_id], 'only the short one');
    eq([retryable(big), queue.retry(big.txn_id)], [false, null], 'sending it again could only fail');
    eq(queue.discard(big.txn_id), big);
  });
  test('send queue entries are plain data, without the connection\'s request ids', () => {
    const { queue } = sendQueue();
    const a = queue.add(3, 'keep me', new Date('2026-11-26T10:00:00.000Z'));
    eq(JSON.parse(JSON.stringify(a)), { txn_id: a.txn_id, conversation_id: 3, body: 'keep me',
      created_at: '2026-11-26T10:00:00.000Z', state: 'sending', error: null });
  });

  // A Web Storage stand-in, so that these tests leave the page's own storage alone.
  const memoryStorage = () => {
    const map = new Map();
    return {
      get length() { return map.size; },
      key: (i) => [...map.keys()][i] ?? null,
      getItem: (k) => (map.has(k) ? map.get(k) : null),
      setItem: (k, v) => map.set(k, String(v)),
      removeItem: (k) => map.delete(k),
      map,
    };
  };

  test('storage: sends come back as they were kept, oldest first, until forgotten', () => {
    const storage = memoryStorage();
    const mine = new UserStorage(7, storage);
    const { queue } = sendQueue();
    const later = queue.add(3, 'second', new Date('2026-11-26T10:00:02.000Z'));
    const earlier = queue.add(4, 'first', new Date('2026-11-26T10:00:01.000Z'));
    mine.keep(later);
    mine.keep(earlier);
    queue.refuse({ type: 'error', req: 's2', code: 'payload_too_large', message: 'body: longer than the limit' });
    mine.keep(earlier);
    eq(new UserStorage(7, storage).outbox(), [
      { txn_id: earlier.txn_id, conversation_id: 4, body: 'first', created_at: '2026-11-26T10:00:01.000Z', state: 'failed', error: 'Too long to send. Shorten it, or send it in parts.' },
      { txn_id: later.txn_id, conversation_id: 3, body: 'second', created_at: '2026-11-26T10:00:02.000Z', state: 'waiting', error: null },
    ], 'a send on the wire comes back waiting; a failed one failed, with its reason');
    mine.forget(later.txn_id);
    eq(mine.outbox().map((e) => e.body), ['first']);
  });
  test('storage: drafts per conversation, an empty one removed', () => {
    const storage = memoryStorage();
    const mine = new UserStorage(7, storage);
    eq(mine.draft(3), '');
    mine.setDraft(3, 'half a thought');
    mine.setDraft(4, 'another');
    eq([mine.draft(3), mine.draft(4)], ['half a thought', 'another']);
    mine.setDraft(3, '  ');
    eq(mine.draft(3), '');
    eq(storage.map.size, 1, 'only the non-empty draft is kept');
  });
  test('storage: two users in one browser never mix, and a logout clears only its own', () => {
    const storage = memoryStorage();
    const a = new UserStorage(1, storage);
    const b = new UserStorage(11, storage);
    a.setDraft(5, 'from a');
    b.setDraft(5, 'from b');
    a.keep({ txn_id: 'web-a', conversation_id: 5, body: 'a', created_at: '2026-11-26T10:00:00.000Z', state: 'sending', error: null });
    storage.setItem('someone-else', 'theirs');
    eq([a.draft(5), b.draft(5), b.outbox()], ['from a', 'from b', []]);
    a.clear();
    eq([a.draft(5), a.outbox(), b.draft(5), storage.getItem('someone-else')], ['', [], 'from b', 'theirs']);
  });
  test('storage: a damaged value is dropped, and a storage that refuses everything is survived', () => {
    const storage = memoryStorage();
    storage.setItem('gadka/1/7/outbox/web-x', '{not json');
    storage.setItem('gadka/1/7/outbox/web-y', JSON.stringify({ txn_id: 'web-y', conversation_id: 'five', body: 'x' }));
    eq(new UserStorage(7, storage).outbox(), []);
    eq(storage.map.size, 0, 'damaged entries are removed');
    const refusing = { get length() { throw new Error('denied'); }, key() { throw new Error('denied'); },
      getItem() { throw new Error('denied'); }, setItem() { throw new Error('full'); }, removeItem() { throw new Error('denied'); } };
    const none = new UserStorage(7, refusing);
    none.setDraft(1, 'x');
    none.keep({ txn_id: 'web-z', conversation_id: 1, body: 'z', created_at: '', state: 'waiting', error: null });
    eq([none.draft(1), none.outbox()], ['', []]);
    none.clear();
    eq([new UserStorage(7, null).outbox(), new UserStorage(7, null).draft(1)], [[], '']);
  });

  test('restore: kept sends go out once connected, with their own txn ids; failed ones wait for the person', () => {
    const { queue, connection, changes } = sendQueue();
    connection.open = false;
    const kept = [
      { txn_id: 'web-1', conversation_id: 2, body: 'one', created_at: '2026-11-26T10:00:01.000Z', state: 'waiting', error: null },
      { txn_id: 'web-2', conversation_id: 2, body: 'two', created_at: '2026-11-26T10:00:02.000Z', state: 'failed', error: 'Too long' },
      { txn_id: 'web-3', conversation_id: 3, body: 'three', created_at: '2026-11-26T10:00:03.000Z', state: 'waiting', error: null },
    ];
    queue.restore(kept);
    eq(queue.pending(2).map((e) => [e.txn_id, e.state, e.error]), [['web-1', 'waiting', null], ['web-2', 'failed', 'Too long']]);
    eq(connection.frames, [], 'nothing goes out while closed');
    connection.open = true;
    queue.connected();
    eq(connection.frames.map((f) => [f.txn_id, f.conversation_id, f.body]), [['web-1', 2, 'one'], ['web-3', 3, 'three']]);
    queue.restore(kept);
    eq(queue.pending(2).length, 2, 'a send restored twice is held once');
    eq(changes, [], 'restoring changes nothing that is kept');
    queue.acknowledge({ type: 'sent', req: connection.frames[0].req, txn_id: 'web-1', message: {} });
    eq(changes, ['sent one']);
    eq(queue.discard('web-2').body, 'two');
  });
  test('restore: with the connection open, kept sends go out at once', () => {
    const { queue, connection } = sendQueue();
    queue.restore([{ txn_id: 'web-9', conversation_id: 1, body: 'now', created_at: '2026-11-26T10:00:00.000Z', state: 'waiting', error: null }]);
    eq(connection.frames.map((f) => f.txn_id), ['web-9']);
  });
  test('a refused send says why in words, or in the server\'s', () => {
    eq(refusalReason({ code: 'payload_too_large', message: 'body: longer than the limit of 16384 bytes' }), 'Too long to send. Shorten it, or send it in parts.');
    eq(refusalReason({ code: 'not_found', message: 'conversation not found' }), 'This conversation is not available to you.');
    eq(refusalReason({ code: 'invalid_input', message: 'body: may not be empty' }), 'body: may not be empty');
    eq(refusalReason({ code: 'internal' }), 'The server refused it.');
  });

  test('username rules: what the server takes, and why not in words', () => {
    const { usernameProblem } = rules;
    for (const ok of ['abc', 'Alice_1', 'a.b-c', '0day', 'x'.repeat(32)]) eq(usernameProblem(ok), null, ok);
    eq(usernameProblem('al'), 'A username is at least 3 characters.');
    eq(usernameProblem('al', { typing: true }), null, 'too short is not wrong while typing');
    eq(usernameProblem('', { typing: true }), null);
    eq(usernameProblem(''), 'Choose a username.');
    eq(usernameProblem('ali ce', { typing: true }), 'A username cannot contain spaces.');
    eq(usernameProblem('alicé', { typing: true }), 'A username cannot contain “é”.');
    eq(usernameProblem('<b>', { typing: true }), 'A username cannot contain “<”.');
    eq(usernameProblem('_alice', { typing: true }), 'A username starts with a letter or a digit.');
    eq(usernameProblem('x'.repeat(33)), 'A username is at most 32 characters.');
    eq(rules.passwordProblem('short'), 'Use at least 8 characters.');
    eq(rules.passwordProblem('short', { typing: true }), null);
    eq(rules.passwordProblem('long enough'), null);
  });
  test('display name rules: 1 to 64 characters, not blank, no control characters', () => {
    const { displayNameProblem } = rules;
    eq(displayNameProblem('Ada Lovelace'), null);
    eq(displayNameProblem('  '), 'A name cannot be empty.');
    eq(displayNameProblem('x'.repeat(65)), 'A name is at most 64 characters.');
    eq(displayNameProblem('😀'.repeat(64)), null, 'characters, not UTF-16 units');
    eq(displayNameProblem('a\u0007b'), 'A name cannot contain control characters.');
  });
  test('a message counts against the limit in UTF-8 bytes, and only near it', () => {
    const { messageSize, utf8Length, MAX_MESSAGE_BYTES } = rules;
    eq(MAX_MESSAGE_BYTES, 16384);
    for (const text of ['', 'abc', 'żółć', '日本', '😀 ok', '\ud800 lone']) eq(utf8Length(text), new TextEncoder().encode(text).length, text);
    eq(messageSize('x'.repeat(100)), null);
    eq(messageSize('x'.repeat(14000)), null);
    eq(messageSize('x'.repeat(15000)), { bytes: 15000, left: 1384 });
    eq(messageSize('😀'.repeat(4200)), { bytes: 16800, left: -416 });
    eq(messageSize('x'.repeat(20), 20), { bytes: 20, left: 0 });
  });

  test('Alt+arrows go to the nearest chat with unread messages above or below', () => {
    const list = [{ id: 1, unread: 0 }, { id: 2, unread: 3 }, { id: 3, unread: 0 }, { id: 4, unread: 1 }, { id: 5, unread: 0 }];
    eq(nextUnread(list, 3, 1)?.id, 4);
    eq(nextUnread(list, 3, -1)?.id, 2);
    eq(nextUnread(list, 4, 1), null, 'none below');
    eq(nextUnread(list, 2, -1), null, 'none above');
    eq(nextUnread(list, null, 1)?.id, 2, 'none open: the first from the top');
    eq(nextUnread(list, null, -1)?.id, 4, 'none open: the first from the bottom');
    eq(nextUnread([], null, 1), null);
  });
  test('the login form says the server\'s refusals in words, and keeps its message for the rest', () => {
    const refusal = (code, message, field) => ({ code, message, field });
    eq(authError(refusal('invalid_credentials', 'wrong username or password'), { register: false }),
      { field: null, text: 'Wrong username or password. Check both and try again.' });
    eq(authError(refusal('username_taken', 'this username is taken'), { register: true }),
      { field: 'username', text: 'This username is taken. Try another one.' });
    eq(authError(refusal('rate_limited', 'too many login attempts; try again in 42 s'), { register: false }).text,
      'Too many attempts. Try again in 42 seconds.');
    eq(authError(refusal('rate_limited', 'slow down'), { register: false }).text, 'Too many attempts. Wait a minute, then try again.');
    eq(authError(refusal('invalid_input', 'username: 3 to 32 characters…', 'username'), { register: true, username: 'a b' }),
      { field: 'username', text: 'A username cannot contain spaces.' });
    eq(authError(refusal('network', 'The server cannot be reached. Check your connection.'), { register: false }),
      { field: null, text: 'The server cannot be reached. Check your connection.' });
  });

  test('reactions are sets: on twice or off twice is harmless, an empty key goes', () => {
    const { applyReaction } = reactions;
    let list = [];
    list = applyReaction(list, 1, '👍', true);
    list = applyReaction(list, 2, '❤️', true);
    list = applyReaction(list, 2, '👍', true);
    const same = applyReaction(list, 2, '👍', true);
    eq(same === list, true, 'a repeat changes nothing');
    eq(list, [{ key: '👍', user_ids: [1, 2] }, { key: '❤️', user_ids: [2] }]);
    list = applyReaction(list, 2, '❤️', false);
    eq(applyReaction(list, 2, '❤️', false) === list, true, 'off twice');
    eq(list, [{ key: '👍', user_ids: [1, 2] }]);
    eq(applyReaction(null, 3, 'ok', false), []);
  });
  test('a reaction key: 1 to 64 bytes, not blank, no control characters; its label names people', () => {
    const { reactionKeyError, reactionLabel, snippet } = reactions;
    eq([reactionKeyError('👍'), reactionKeyError('yes!')], [null, null]);
    eq(reactionKeyError('   ') !== null, true);
    eq(reactionKeyError('a\u0007') !== null, true);
    eq(reactionKeyError('🎉'.repeat(16)), null, '64 bytes');
    eq(reactionKeyError('🎉'.repeat(17)) !== null, true, '68 bytes');
    eq(reactionLabel({ key: '👍', user_ids: [1, 2] }, (id) => ({ 1: 'Alice', 2: 'Bob' })[id]), '👍 Alice, Bob');
    eq(snippet('  two\nlines  '), 'two lines');
    eq(snippet('x'.repeat(200)).length, 141);
  });
  test('state: edits, deletes and reactions change the message held; twice is harmless; the cursor is the highest position', () => {
    const state = new ChatState({ id: 1, display_name: 'Me' });
    const message = (seq, extra = {}) => ({ id: 100 + seq, conversation_id: 5, seq, sender_id: 2, body: `m${seq}`,
      created_at: '2026-12-03T10:00:00Z', reply_to: null, edited_at: null, deleted: false, reactions: [], ...extra });
    state.apply({ type: 'hello', me: { id: 1, display_name: 'Me' }, online: [], unread: { total: 0, senders: [] },
      last_message_id: 102, position: 140,
      conversations: [{ id: 5, peer: { id: 2, display_name: 'Bob' }, messages: [message(1), message(2)], last_seq: 2,
        last_read_seq: 2, peer_last_read_seq: 0, unread: 0, last_activity_at: '2026-12-03T10:00:00Z' }] });
    eq(state.cursor, 140, 'hello.position');
    const changes = [];
    state.subscribe((c) => changes.push(c.kind));
    state.apply({ type: 'message_edited', message: message(1, { body: 'new', edited_at: '2026-12-03T10:05:00Z' }), pos: 141 });
    eq(state.conversations.get(5).messages.get(1).body, 'new');
    const reaction = { type: 'reaction', conversation_id: 5, seq: 2, user_id: 1, key: '👍', on: true, pos: 142 };
    state.apply(reaction);
    state.apply(reaction);
    eq(state.conversations.get(5).messages.get(2).reactions, [{ key: '👍', user_ids: [1] }]);
    const deleted = { type: 'message_deleted', conversation_id: 5, seq: 2, pos: 143 };
    state.apply(deleted);
    const before = state.conversations.get(5).messages.get(2);
    state.apply(deleted);
    eq(state.conversations.get(5).messages.get(2) === before, true, 'a second delete changes nothing');
    eq([before.deleted, before.body, before.reactions], [true, '', []]);
    state.apply({ type: 'reaction', conversation_id: 5, seq: 9, user_id: 2, key: 'x', on: true, pos: 150 });
    eq(state.cursor, 150, 'an event on a message not held still moves the cursor');
    state.apply({ type: 'receipt', conversation_id: 5, user_id: 2, up_to_seq: 2, pos: 151 });
    eq(state.cursor, 151);
    eq(changes.includes('messages'), true);
  });
  test('a reply keeps what it answers through the send queue and a reload', () => {
    const { queue, connection } = sendQueue();
    const a = queue.add(3, 'an answer', new Date('2026-11-26T10:00:00.000Z'), 7);
    eq([connection.frames[0].reply_to, a.reply_to], [7, 7]);
    const storage = memoryStorage();
    new UserStorage(9, storage).keep(a);
    const kept = new UserStorage(9, storage).outbox();
    eq(kept[0].reply_to, 7);
    const again = sendQueue();
    again.queue.restore(kept);
    eq(again.connection.frames.map((f) => [f.body, f.reply_to]), [['an answer', 7]]);
    eq('reply_to' in queue.add(3, 'plain'), false, 'a message that answers nothing says nothing of it');
  });
  test('a file\'s message carries its media_id through the send queue and a reload', () => {
    const { queue, connection } = sendQueue();
    const photo = { id: 'AAAAAAAAAAAAAAAAAAAAAA', name: 'a.png', content_type: 'image/png', size: 9, width: 4, height: 3 };
    const a = queue.add(3, '', new Date('2026-11-26T10:00:00.000Z'), null, photo);
    eq([connection.frames[0].media_id, connection.frames[0].body, a.attachment], [photo.id, '', photo]);
    const storage = memoryStorage();
    new UserStorage(9, storage).keep(a);
    const kept = new UserStorage(9, storage).outbox();
    eq(kept[0].attachment, photo);
    const again = sendQueue();
    again.queue.restore(kept);
    eq(again.connection.frames.map((f) => f.media_id), [photo.id]);
    eq('media_id' in sendQueue().queue.add(3, 'plain') ? 'yes' : 'no', 'no');
    // A kept entry whose media is not a media's shape is dropped, not sent.
    storage.setItem('gadka/1/9/outbox/bad', JSON.stringify({ ...kept[0], txn_id: 'bad', attachment: { id: 5 } }));
    eq(new UserStorage(9, storage).outbox().map((e) => e.txn_id), [a.txn_id]);
  });
  test('attachments: sizes in words, the thumbnail box, a file-only message summed up', () => {
    eq([media.humanSize(0), media.humanSize(820), media.humanSize(14 * 1024 + 300), media.humanSize(3.2 * 1024 * 1024)],
      ['0 B', '820 B', '14 KB', '3.2 MB']);
    eq(media.thumbBox(640, 480), { width: 320, height: 240 });
    eq(media.thumbBox(100, 4000), { width: 8, height: 320 });
    eq(media.thumbBox(50, 30), { width: 50, height: 30 }, 'a small image is not blown up');
    eq(media.isImage({ content_type: 'image/png', width: 2, height: 2 }), true);
    eq(media.isImage({ content_type: 'image/svg+xml', width: 2, height: 2 }), false);
    eq(media.isImage({ content_type: 'application/pdf', width: null, height: null }), false);
    const file = { id: 'x', name: 'plan.pdf', content_type: 'application/pdf', size: 1 };
    eq(media.summary({ body: '', attachment: file }), '📎 plan.pdf');
    eq(media.summary({ body: ' see\nthis ', attachment: file }), 'see this');
    eq(media.summary({ body: '', attachment: null }), '');
  });
  test('attachments: an upload refused says why in words', () => {
    eq(media.uploadRefusal(413, { code: 'payload_too_large' }), 'This file is too large to send.');
    eq(media.uploadRefusal(429, { code: 'rate_limited' }).startsWith('Too many files'), true);
    eq(media.uploadRefusal(400, { code: 'invalid_input', field: 'file' }).startsWith('This image cannot be read'), true);
    eq(media.uploadRefusal(0).includes('cannot be reached'), true);
    eq(media.uploadRefusal(500, { message: 'Boom.' }), 'Boom.');
  });
  await testAsync('uploads: progress, then the message sent (a reply if it was one); a refusal kept in words; a cancel sends nothing', async () => {
    const started = [];
    const upload = (file, onProgress) => {
      let settle;
      const done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
      const run = { file, onProgress, settle, aborted: false };
      started.push(run);
      return { done, abort: () => { run.aborted = true; settle.reject(Object.assign(new Error('Upload cancelled.'), { aborted: true })); } };
    };
    const sent = [];
    const changes = [];
    const uploads = new Uploads({ upload, send: (id, m, replyTo) => sent.push([id, m.id, replyTo]), onChange: (e, c) => changes.push(`${c} ${e.name}`) });
    const a = uploads.add(4, { name: 'a.png', size: 10 }, 12);
    const b = uploads.add(4, { name: 'b.txt', size: 20 });
    const c = uploads.add(5, { name: 'c.txt', size: 30 });
    eq(uploads.pending(4).map((e) => e.key), [a.key, b.key]);
    started[0].onProgress(5, 10);
    eq([a.loaded, a.total, a.state], [5, 10, 'uploading']);
    started[0].settle.resolve({ id: 'm-a' });
    started[1].settle.reject(new Error('This file is too large to send.'));
    uploads.cancel(c.key);
    await new Promise((r) => setTimeout(r, 0));
    eq(sent, [[4, 'm-a', 12]]);
    eq(started[2].aborted, true);
    eq(uploads.pending(4).map((e) => [e.name, e.state, e.error]), [['b.txt', 'failed', 'This file is too large to send.']]);
    eq(uploads.pending(5), []);
    uploads.cancel(b.key);
    eq(uploads.pending(4), []);
    eq(changes, ['added a.png', 'added b.txt', 'added c.txt', 'progress a.png', 'removed c.txt', 'removed a.png', 'failed b.txt', 'removed b.txt']);
  });
  test('times are written as the locale writes them', () => {
    // The browser runs with --lang=en-US: 12 hours, no leading zero.
    const text = timeLabel(new Date(2026, 10, 26, 17, 5));
    if (!/^5:05\sPM$/u.test(text)) throw new Error(text);
  });

  test('messages group by local day, in order', () => {
    const now = new Date(2026, 10, 26, 15, 0);
    const at = (d, h) => ({ created_at: new Date(2026, 10, d, h, 5).toISOString() });
    const groups = groupByDay([at(20, 9), at(25, 23), at(26, 0), at(26, 14)], (m) => m.created_at, now);
    eq(groups.map((g) => [g.day, g.label, g.items.length]), [
      ['2026-11-20', 'Friday', 1],
      ['2026-11-25', 'Yesterday', 1],
      ['2026-11-26', 'Today', 2],
    ]);
    eq(groupByDay([], (m) => m, now), []);
  });
  test('days older than a week are dates, other years with the year', () => {
    const now = new Date(2026, 10, 26, 12);
    eq(dayKey(new Date(2026, 0, 5, 23, 59)), '2026-01-05');
    const label = dayLabel(new Date(2025, 11, 31, 12), now);
    if (!label.includes('2025') || !label.includes('31')) throw new Error(label);
    if (dayLabel(new Date(2026, 10, 1, 12), now).includes('2026')) throw new Error('no year this year');
  });

  test('times follow the locale\'s clock, never a fixed 12-hour one', () => {
    const at = new Date(2026, 10, 26, 17, 5);
    eq(timeLabel(at, 'de-DE'), '17:05');
    eq(timeLabel(at, 'en-GB'), '17:05');
    const us = timeLabel(at, 'en-US');
    if (!/^5:05\s?PM$/u.test(us)) throw new Error(us);
  });

  const m = (seq, sender = 2, extra = {}) => ({ id: 100 + seq, conversation_id: 7, seq, sender_id: sender, body: `m${seq}`,
    created_at: new Date(2026, 10, 26, 10, 0, seq).toISOString(), ...extra });
  test('a message list keeps one message per seq, in seq order, whatever order they come in', () => {
    const list = new MessageList();
    eq([list.size, list.first(), list.last(), list.lowerBound(5)], [0, undefined, undefined, 0]);
    for (const seq of [10, 11, 12]) eq(list.put(m(seq)), true, 'appended');
    for (const seq of [3, 4, 9]) eq(list.put(m(seq)), true, 'a page of history in front');
    eq(list.put(m(7)), true, 'into a gap');
    eq(list.put({ ...m(11), body: 'again' }), false, 'held already');
    eq([...list.values()].map((x) => x.seq), [3, 4, 7, 9, 10, 11, 12]);
    eq(list.get(11).body, 'again', 'the later copy is kept');
    eq([list.has(7), list.has(8), list.get(8)], [true, false, undefined]);
    eq([list.indexOf(3), list.indexOf(12), list.indexOf(5), list.indexOf(99)], [0, 6, -1, -1]);
    eq([list.lowerBound(1), list.lowerBound(5), list.lowerBound(9), list.lowerBound(13)], [0, 2, 3, 7]);
    eq([list.first().seq, list.last().seq, list.at(2).seq, list.size], [3, 12, 7, 7]);
    eq(list.slice(1, 3).map((x) => x.seq), [4, 7]);
  });
  test('state: messages held in seq order, the newest and my own unread found without a sort', () => {
    const me = { id: 1, username: 'me', display_name: 'Me' };
    const peer = { id: 2, username: 'p', display_name: 'P' };
    const s = new ChatState(me);
    s.apply({ type: 'hello', me, online: [], last_message_id: 0, unread: { total: 2, senders: [{ user: peer, count: 2 }] },
      conversations: [{ id: 7, peer, last_activity_at: '2026-11-26T10:00:00.000Z', last_seq: 6, last_read_seq: 3,
        peer_last_read_seq: 0, unread: 2, messages: [m(5, 1), m(6)] }] });
    s.apply({ type: 'history', conversation_id: 7, messages: [m(2), m(3), m(4)] });
    s.apply({ type: 'message', message: m(7) });
    eq(s.messages(7).map((x) => x.seq), [2, 3, 4, 5, 6, 7]);
    eq(s.lastMessage(s.conversations.get(7)).seq, 7);
    s.messages(7).pop();
    eq(s.messages(7).length, 6, 'messages() is a copy');
    eq(s.conversations.get(7).unread, 3);
    s.apply({ type: 'receipt', conversation_id: 7, user_id: 1, up_to_seq: 6 });
    eq(s.conversations.get(7).unread, 1, 'read on another device up to 6: only 7 is left');
  });

  test('timeline items: a day separator per day, the divider before the first unread, runs', () => {
    const now = new Date(2026, 10, 26, 12);
    const on = (seq, sender, day, minute) => ({ ...m(seq, sender), created_at: new Date(2026, 10, day, 10, minute).toISOString() });
    const items = timelineItems({
      messages: [on(1, 2, 25, 0), on(2, 2, 26, 0), on(3, 2, 26, 1), on(4, 1, 26, 2, ), on(5, 2, 26, 30)],
      me: 1, dividerBefore: 3, now,
    });
    eq(items.map((i) => i.key), ['d2026-11-25:Yesterday', 's1', 'd2026-11-26:Today', 's2', 'unread', 's3', 's4', 's5']);
    eq(items.filter((i) => i.kind === 'day').map((i) => i.label), ['Yesterday', 'Today']);
    const by = Object.fromEntries(items.filter((i) => i.message).map((i) => [i.message.seq, [i.continues, i.followed]]));
    eq(by, { 1: [false, false], 2: [false, false], 3: [false, false], 4: [false, false], 5: [false, false] },
      'the divider, a change of side and a long pause each break a run');
    const run = timelineItems({ messages: [on(1, 2, 26, 0), on(2, 2, 26, 1), on(3, 2, 26, 2)], me: 1, now });
    eq(run.filter((i) => i.message).map((i) => [i.continues, i.followed]), [[false, true], [true, true], [true, false]]);
    eq(timelineItems({ messages: [on(1, 2, 26, 0)], me: 1, dividerBefore: 9, now }).map((i) => i.kind), ['day', 'message'],
      'no divider when its message is outside the slice');
  });
  test('timeline items: mine keyed by txn id, pending after the stored, the state said on the newest', () => {
    const now = new Date(2026, 10, 26, 12);
    const mine = (seq, txn) => m(seq, 1, { txn_id: txn });
    const pending = [
      { txn_id: 'b', conversation_id: 7, body: 'stored meanwhile', created_at: m(3).created_at, state: 'sending' },
      { txn_id: 'c', conversation_id: 7, body: 'refused', created_at: m(4).created_at, state: 'failed' },
      { txn_id: 'd', conversation_id: 7, body: 'on its way', created_at: m(5).created_at, state: 'waiting' },
    ];
    const items = timelineItems({ messages: [mine(1, 'a'), m(2), mine(3, 'b')], pending, me: 1, peerReadUpTo: 1, lastMineSeq: 3, now });
    eq(items.filter((i) => i.message).map((i) => [i.key, i.kind, i.status ?? null, i.showStatus ?? null]), [
      ['ta', 'message', 'seen', false],
      ['s2', 'message', null, null],
      ['tb', 'message', 'sent', true],
      ['tc', 'pending', 'failed', true],
      ['td', 'pending', 'sending', true],
    ]);
  });

  test('timeline items: a notice is the peer\'s for reading but runs with nothing', () => {
    const now = new Date(2026, 10, 26, 12);
    const on = (seq, sender, minute, extra = {}) => ({ ...m(seq, sender, extra), created_at: new Date(2026, 10, 26, 10, minute).toISOString() });
    const messages = [on(1, 2, 0), on(2, 2, 0, { kind: 'notice' }), on(3, 2, 1), on(4, 2, 1), on(5, 1, 2, { txn_id: 'x' })];
    const items = timelineItems({ messages, me: 1, now });
    eq(items.filter((i) => i.message).map((i) => [i.key, i.mine, i.notice, i.continues, i.followed]), [
      ['s1', false, false, false, false],
      ['s2', false, true, false, false],
      ['s3', false, false, false, true],
      ['s4', false, false, true, false],
      ['tx', true, false, false, false],
    ], 'the peer\'s messages run around the notice, not through it');
    const keys = timelineItems({ messages, me: 1, dividerBefore: 2, now }).map((i) => i.key);
    eq(keys.indexOf('unread'), keys.indexOf('s2') - 1, 'an unread notice is past the divider');
  });

  test('backoff doubles up to a cap, with jitter in the upper half', () => {
    const low = (n) => backoffDelay(n, { base: 500, cap: 30000, random: () => 0 });
    const high = (n) => backoffDelay(n, { base: 500, cap: 30000, random: () => 1 });
    eq([0, 1, 2, 3].map(low), [250, 500, 1000, 2000]);
    eq([0, 1, 2, 3].map(high), [500, 1000, 2000, 4000]);
    eq([10, 50, 1000].map(high), [30000, 30000, 30000]);
  });

  test('state: markers only move forward, messages are held once, the cursor follows message frames', () => {
    const me = { id: 1, username: 'me', display_name: 'Me' };
    const peer = { id: 2, username: 'p', display_name: 'P' };
    const s = new ChatState(me);
    const msg = (seq, sender) => ({ id: 100 + seq, conversation_id: 7, seq, sender_id: sender, body: `m${seq}`, created_at: `2026-11-26T10:0${seq}:00.000Z`, read: false });
    s.apply({ type: 'hello', me, online: [2], last_message_id: 101, unread: { total: 1, senders: [{ user: peer, count: 1 }] },
      conversations: [{ id: 7, peer, last_activity_at: '2026-11-26T10:01:00.000Z', last_seq: 1, last_read_seq: 0, peer_last_read_seq: 0, unread: 1, messages: [msg(1, 2)] }] });
    eq([s.totalUnread(), s.cursor], [1, 101]);
    s.apply({ type: 'sent', txn_id: 't', message: { ...msg(2, 1), id: 150 } });
    eq(s.cursor, 101, 'an answer does not move the cursor');
    const again = s.apply({ type: 'message', message: msg(2, 1) });
    eq(again.isNew, false, 'a message held once');
    s.apply({ type: 'message', message: msg(3, 2) });
    eq([s.totalUnread(), s.cursor, s.messages(7).length], [2, 103, 3]);
    s.apply({ type: 'receipt', conversation_id: 7, user_id: 2, up_to_seq: 2 });
    s.apply({ type: 'receipt', conversation_id: 7, user_id: 2, up_to_seq: 1 });
    eq(s.conversations.get(7).peer_last_read_seq, 2, 'a stale receipt');
    s.apply({ type: 'unread', total: 0, senders: [] });
    eq(s.totalUnread(), 0);
    const unknown = s.apply({ type: 'message', message: { ...msg(1, 3), conversation_id: 8, id: 200 } });
    eq(unknown, { unknown: 8 });
  });

  test('state: the unread total counts conversations not paged in yet; presence is unknown offline', () => {
    const me = { id: 1, username: 'me', display_name: 'Me' };
    const peer = (id) => ({ id, username: `p${id}`, display_name: `P${id}` });
    const view = (id, unread) => ({ id, peer: peer(id), last_activity_at: '2026-11-26T10:00:00.000Z', last_seq: unread, last_read_seq: 0, peer_last_read_seq: 0, unread, messages: [] });
    const s = new ChatState(me);
    eq(s.presence(2), 'unknown', 'before any hello');
    s.apply({ type: 'hello', me, online: [2], last_message_id: 0, conversations: [view(2, 3)],
      unread: { total: 10, senders: [{ user: peer(2), count: 3 }, { user: peer(3), count: 7 }] } });
    eq([s.totalUnread(), s.presence(2), s.presence(3)], [10, 'online', 'offline']);
    s.mergeConversation(view(3, 7));
    eq(s.totalUnread(), 10, 'a conversation paged in is counted once');
    s.setConnected(false);
    eq([s.presence(2), s.presence(3)], ['unknown', 'unknown']);
  });

  test('state: a new name replaces the old one wherever that user is shown', () => {
    const me = { id: 1, username: 'me', display_name: 'Me', matrix_id: null };
    const peer = { id: 2, username: 'p', display_name: 'P', matrix_id: null };
    const s = new ChatState(me);
    s.apply({ type: 'hello', me, online: [], last_message_id: 0, unread: { total: 0, senders: [] },
      conversations: [{ id: 7, peer, last_activity_at: '2026-11-26T10:00:00.000Z', last_seq: 0, last_read_seq: 0, peer_last_read_seq: 0, unread: 0, messages: [] }] });
    const changes = [];
    s.subscribe((change) => changes.push(`${change.kind} ${change.user.id}`));
    s.apply({ type: 'profile', user: { ...peer, display_name: 'Pat' } });
    s.apply({ type: 'profile', user: { ...me, display_name: 'Mo' } });
    s.apply({ type: 'profile', user: { id: 9, username: 'x', display_name: 'X', matrix_id: null } });
    eq([s.conversations.get(7).peer.display_name, s.me.display_name, s.me.username], ['Pat', 'Mo', 'me']);
    // Each change names its user, so that a profile on screen can follow it.
    eq(changes, ['profile 2', 'profile 1', 'profile 9']);
  });

  test('a Matrix user is named by their Matrix ID and badged; a local user by @username', () => {
    eq(handle({ username: 'bob', matrix_id: null }), '@bob');
    eq(handle({ username: '@ada:matrix.example', matrix_id: '@ada:matrix.example' }), '@ada:matrix.example');
    eq(matrixBadge({ username: 'bob', matrix_id: null }), null);
    const badge = matrixBadge({ username: '@a<b>:x', matrix_id: '@a<b>:x' });
    eq([badge.textContent, badge.title, badge.children.length], ['Matrix', 'On Matrix as @a<b>:x', 0]);
  });

  done({ passed, failures });
})().catch((e) => done({ passed: 0, failures: [`the suite did not run: ${e.stack ?? e}`] }));
