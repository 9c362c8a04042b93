// Private conversations: the list with unread counts and presence, one
// conversation with its history, live messages, typing, read receipts.

import { api, type Chat, type ChatMessage, type Page, type Profile } from '../api';
import { errorText, h, mount, toast } from '../dom';
import { RequestError, live } from '../live';
import { changed, store } from '../state';
import { empty, presenceDot } from './common';

interface Shown {
  message: ChatMessage;
  row: HTMLElement;
}

function peerOf(chatId: string): number {
  const [a, b] = chatId.split('_').map(Number);
  return a === store.me!.id ? b : a;
}

export function chatView(root: HTMLElement, [chatId]: string[]): () => void {
  const list = h('ul', { class: 'chat-list', 'data-testid': 'chat-list' });
  const pane = h('section', { class: 'chat-pane', 'aria-label': 'Conversation' });
  mount(root, h('h1', { class: 'sr-only' }, 'Chat'), h('div', { class: 'chat' }, h('nav', { 'aria-label': 'Conversations' }, list), pane));
  const offs: (() => void)[] = [];
  let chats: Chat[] = [];

  const renderList = () => {
    if (chats.length === 0) {
      mount(list, h('li', null, empty('No conversations yet. Open a profile and press Message.')));
      return;
    }
    mount(list, ...chats.map((c) => {
      const unread = store.chatUnread.get(c.chat_id) ?? c.unread;
      return h('li', null, h('a', { href: `#/chat/${c.chat_id}`, 'aria-current': c.chat_id === chatId ? 'page' : null, 'data-chat': c.chat_id },
        h('img', { src: c.peer.avatar_url, alt: '', class: 'avatar small' }),
        h('span', { class: 'grow' }, h('strong', null, c.peer.display_name), h('br'), h('small', { class: 'muted' }, c.last_message.body.slice(0, 40))),
        presenceDot(store.presence.get(c.peer.id) ?? c.peer_presence.presence),
        unread > 0 ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, String(unread)) : null));
    }));
  };
  const loadList = async () => {
    try {
      chats = (await api<Page<Chat>>('GET', '/api/chats?limit=100')).items;
      renderList();
      onChats();
    } catch (e) {
      mount(list, h('li', { class: 'error', role: 'alert' }, errorText(e)));
    }
  };
  void loadList();
  offs.push(changed('chats', renderList), changed('presence', renderList));
  offs.push(live.on('chat.message', (e) => {
    const m: ChatMessage = e.message;
    const known = chats.find((c) => c.chat_id === m.chat_id);
    if (known) {
      known.last_message = m;
      chats = [known, ...chats.filter((c) => c !== known)];
      renderList();
    } else {
      void loadList();
    }
  }));
  let onChats = () => {};
  let onHistoryGap = () => void loadList();
  offs.push(live.on('chat.replayed', (e) => { if (e.fetch_history) onHistoryGap(); }));

  if (!chatId) {
    mount(pane, h('p', { class: 'muted' }, 'Choose a conversation.'));
    return () => offs.forEach((off) => off());
  }
  if (!chatId.split('_').map(Number).includes(store.me!.id)) {
    mount(pane, h('p', { class: 'error' }, 'This conversation is not yours.'));
    return () => offs.forEach((off) => off());
  }

  const peerId = peerOf(chatId);
  const title = h('h2', null, '…');
  const typing = h('p', { class: 'typing muted', 'aria-live': 'polite', 'data-testid': 'typing' });
  // Announced only once the history is in (not 50 old messages at once).
  const log = h('ol', { class: 'messages', role: 'log', 'aria-live': 'off', 'aria-label': 'Messages', 'data-testid': 'messages' });
  const older = h('button', { class: 'link', hidden: true }, 'Load older messages');
  const box = h('textarea', { name: 'body', rows: '2', maxlength: '2000', 'aria-label': 'Message', placeholder: 'Write a message…', 'data-testid': 'chat-input' });
  const shown = new Map<number, Shown>();
  let peerRead = 0;
  let peerName = 'They';

  const isMine = (m: ChatMessage) => m.sender_id === store.me!.id;
  const markSeen = () => {
    let lastMine: Shown | undefined;
    for (const s of shown.values()) {
      s.row.querySelector('.seen')?.remove();
      if (isMine(s.message) && s.message.id <= peerRead && (!lastMine || s.message.id > lastMine.message.id)) lastMine = s;
    }
    lastMine?.row.appendChild(h('small', { class: 'seen', 'data-testid': 'seen' }, 'Seen'));
  };
  const rowFor = (m: ChatMessage, pending = false) => h('li', { class: `${isMine(m) ? 'mine' : 'theirs'}${pending ? ' pending' : ''}`, 'data-id': String(m.id), 'data-client-id': m.client_msg_id },
    h('p', null, m.body),
    h('small', { class: 'muted' }, pending ? 'Sending…' : new Date(m.created_at).toLocaleTimeString()));
  /** Puts a stored message in id order (replays and live ones may interleave). */
  const place = (m: ChatMessage) => {
    if (m.chat_id !== chatId || shown.has(m.id)) return;
    // A send that timed out but was stored: the message replaces its
    // "not sent" row.
    if (isMine(m)) log.querySelector(`li.pending[data-client-id="${CSS.escape(m.client_msg_id)}"]`)?.remove();
    const row = rowFor(m);
    const after = [...shown.values()].filter((s) => s.message.id > m.id).sort((a, b) => a.message.id - b.message.id)[0];
    if (after) log.insertBefore(row, after.row);
    else log.appendChild(row);
    shown.set(m.id, { message: m, row });
  };
  let readTimer: number | undefined;
  /** Moves the read marker to the newest message shown (over REST, which
   * works while the socket reconnects too; the server tells every socket). */
  const readToEnd = () => {
    clearTimeout(readTimer);
    readTimer = window.setTimeout(() => {
      const newest = Math.max(0, ...[...shown.values()].filter((s) => !isMine(s.message)).map((s) => s.message.id));
      if (newest > 0 && (store.chatUnread.get(chatId) ?? 0) > 0 && document.visibilityState === 'visible') {
        api('POST', `/api/chats/${chatId}/read`, { up_to_id: newest }).catch(() => undefined);
      }
    }, 300);
  };
  const scrollDown = () => { log.scrollTop = log.scrollHeight; };

  const loadPage = async (before?: number) => {
    const q = before ? `?limit=50&before=${before}` : '?limit=50';
    try {
      const page = await api<{ messages: ChatMessage[]; more: boolean }>('GET', `/api/chats/${chatId}/messages${q}`);
      for (const m of page.messages) place(m);
      older.hidden = !page.more;
      markSeen();
    } catch (e) {
      if (!(e instanceof Error && 'status' in e && (e as any).status === 404)) toast(errorText(e), 'error');
    }
  };
  older.addEventListener('click', async () => {
    const oldest = Math.min(...[...shown.keys()]);
    log.setAttribute('aria-live', 'off');
    await loadPage(oldest);
    log.setAttribute('aria-live', 'polite');
  });

  const send = async (body: string, clientMsgId: string, pendingRow: HTMLElement) => {
    try {
      const ack = await live.request({ type: 'chat.send', to: peerId, body, client_msg_id: clientMsgId });
      pendingRow.remove();
      place(ack.message);
      scrollDown();
    } catch (e) {
      pendingRow.classList.add('failed');
      const why = e instanceof RequestError ? e.message : errorText(e);
      mount(pendingRow, h('p', null, body), h('small', { class: 'error' }, `Not sent: ${why} `,
        h('button', { class: 'link', onclick: () => { mount(pendingRow, h('p', null, body), h('small', { class: 'muted' }, 'Sending…')); pendingRow.classList.remove('failed'); void send(body, clientMsgId, pendingRow); } }, 'Retry')));
    }
  };
  let lastTyping = 0;
  box.addEventListener('input', () => {
    if (Date.now() - lastTyping > 2000 && shown.size > 0) {
      lastTyping = Date.now();
      live.send({ type: 'chat.typing', chat_id: chatId });
    }
  });
  const composer = h('form', { class: 'composer', onsubmit: (e: Event) => {
    e.preventDefault();
    const body = box.value.trim();
    if (!body) return;
    box.value = '';
    const clientMsgId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const pendingRow = rowFor({ id: 0, chat_id: chatId, sender_id: store.me!.id, body, client_msg_id: clientMsgId, created_at: new Date().toISOString() }, true);
    log.appendChild(pendingRow);
    scrollDown();
    void send(body, clientMsgId, pendingRow);
  } }, box, h('button', { class: 'primary', type: 'submit', 'data-testid': 'chat-send' }, 'Send'));
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });

  mount(pane, h('header', { class: 'row' }, title), older, log, typing, composer);
  void (async () => {
    try {
      const peer = await api<Profile>('GET', `/api/users/${peerId}`);
      peerName = peer.display_name;
      mount(title, h('a', { href: `#/users/${peer.id}` }, peer.display_name), ' ', presenceDot(store.presence.get(peer.id) ?? peer.presence));
    } catch (e) {
      mount(title, h('span', { class: 'error' }, errorText(e)));
    }
    await loadPage();
    scrollDown();
    log.setAttribute('aria-live', 'polite');
    readToEnd();
  })();
  // The receipt the list knows (it may load after the messages).
  onChats = () => {
    const known = chats.find((c) => c.chat_id === chatId);
    if (known && peerRead < known.peer_last_read_id) {
      peerRead = known.peer_last_read_id;
      markSeen();
    }
  };
  onHistoryGap = () => {
    void loadList();
    void loadPage().then(readToEnd);
  };

  let typingTimer: number | undefined;
  offs.push(live.on('chat.message', (e) => {
    if (e.message.chat_id !== chatId) return;
    place(e.message);
    markSeen();
    scrollDown();
    if (!isMine(e.message)) {
      typing.textContent = '';
      readToEnd();
    }
  }));
  offs.push(live.on('chat.typing', (e) => {
    if (e.chat_id !== chatId || e.user_id === store.me!.id) return;
    typing.textContent = `${peerName} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = window.setTimeout(() => { typing.textContent = ''; }, 3000);
  }));
  offs.push(live.on('chat.read', (e) => {
    if (e.chat_id !== chatId || e.user_id === store.me!.id) return;
    peerRead = Math.max(peerRead, e.up_to_id);
    markSeen();
  }));
  // Counters reloaded (after a reconnect): read what is on screen.
  offs.push(changed('chats', readToEnd));
  const onVisible = () => readToEnd();
  document.addEventListener('visibilitychange', onVisible);
  offs.push(() => document.removeEventListener('visibilitychange', onVisible));
  queueMicrotask(() => box.focus());
  return () => {
    offs.forEach((off) => off());
    clearTimeout(readTimer);
    clearTimeout(typingTimer);
  };
}
