// What every screen shares: who I am, the unread counters, friends'
// presence. Kept current by the socket's events; screens subscribe with
// `changed`.

import { api, type Chat, type Me, type Page, type Presence, type Notification } from './api';
import { live } from './live';

type Topic = 'me' | 'unread' | 'chats' | 'presence';

export const store = {
  me: null as Me | null,
  unreadNotifications: 0,
  /** Unread messages per conversation. */
  chatUnread: new Map<string, number>(),
  presence: new Map<number, Presence>(),
  oauth42: false,
};

const subscribers = new Map<Topic, Set<() => void>>();

export function changed(topic: Topic, f: () => void): () => void {
  let set = subscribers.get(topic);
  if (!set) subscribers.set(topic, (set = new Set()));
  set.add(f);
  return () => set!.delete(f);
}

export function notify(topic: Topic): void {
  subscribers.get(topic)?.forEach((f) => f());
}

export function chatUnreadTotal(): number {
  let total = 0;
  for (const n of store.chatUnread.values()) total += n;
  return total;
}

export function chatIdWith(peer: number): string {
  const me = store.me!.id;
  return me < peer ? `${me}_${peer}` : `${peer}_${me}`;
}

export async function loadMe(): Promise<Me> {
  store.me = await api<Me>('GET', '/api/users/me');
  notify('me');
  return store.me;
}

/** The counters (and the chat resume point) from REST. */
async function loadCounters(): Promise<void> {
  const [unread, chats] = await Promise.all([
    api<{ unread: number }>('GET', '/api/notifications/unread-count'),
    api<Page<Chat>>('GET', '/api/chats?limit=100'),
  ]);
  store.unreadNotifications = unread.unread;
  store.chatUnread.clear();
  for (const chat of chats.items) {
    store.chatUnread.set(chat.chat_id, chat.unread);
    store.presence.set(chat.peer.id, chat.peer_presence.presence);
  }
  live.lastChatId = Math.max(live.lastChatId, ...chats.items.map((c) => c.last_message.id));
  notify('unread');
  notify('chats');
}

/** Loads who I am, the counters and the resume points, then opens the
 * socket. */
export async function startSession(): Promise<void> {
  const [me, notes] = await Promise.all([
    api<Me>('GET', '/api/users/me'),
    api<Page<Notification>>('GET', '/api/notifications?limit=1'),
    loadCounters(),
  ]);
  store.me = me;
  live.lastNotificationId = Math.max(live.lastNotificationId, notes.items[0]?.id ?? 0);
  notify('me');
  live.start();
}

export function endSession(): void {
  live.stop();
  hellos = 0;
  store.me = null;
  store.unreadNotifications = 0;
  store.chatUnread.clear();
  store.presence.clear();
  live.lastNotificationId = 0;
  live.lastChatId = 0;
}

// Counters are not replayed: after a reconnect (reads may have happened
// elsewhere meanwhile), ask again.
let hellos = 0;
live.on('hello', () => {
  if (hellos++ > 0) void loadCounters().catch(() => undefined);
});

// More chat was missed than the server replays: reload over REST, then
// resume from the newest message held.
live.on('chat.replayed', (e) => {
  if (e.fetch_history) void loadCounters().then(() => live.resume('chat'), () => undefined);
});

// An invitation that expired is no longer something to answer.
live.on('game.invite_expired', async (e) => {
  try {
    const page = await api<Page<Notification>>('GET', '/api/notifications?unread_only=true&limit=100');
    const stale = page.items.find((n) => n.kind === 'game_invite' && n.payload.invite_id === e.invite_id);
    if (stale) await api('POST', `/api/notifications/${stale.id}/read`);
  } catch {
    // it stays listed; accepting it answers not_found and marks it read
  }
});

live.on('notifications.unread', (e) => {
  store.unreadNotifications = e.unread;
  notify('unread');
});
// A new notification may replace an unread one (a conversation's keeps
// one), so the count is asked again rather than guessed.
let recount: number | undefined;
live.on('notification', () => {
  clearTimeout(recount);
  recount = window.setTimeout(async () => {
    try {
      store.unreadNotifications = (await api<{ unread: number }>('GET', '/api/notifications/unread-count')).unread;
      notify('unread');
    } catch {
      // offline or logged out: the next event or load corrects it
    }
  }, 150);
});
live.on('chat.unread', (e) => {
  store.chatUnread.set(e.chat_id, e.unread);
  notify('chats');
});
live.on('chat.message', (e) => {
  const m = e.message;
  if (store.me && m.sender_id !== store.me.id) {
    store.chatUnread.set(m.chat_id, (store.chatUnread.get(m.chat_id) ?? 0) + 1);
    notify('chats');
  }
});
live.on('presence', (e) => {
  store.presence.set(e.user_id, e.status);
  notify('presence');
});
