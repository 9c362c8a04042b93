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

/** Loads the counters and the resume points, then opens the socket. */
export async function startSession(): Promise<void> {
  const [me, unread, notes, chats] = await Promise.all([
    api<Me>('GET', '/api/users/me'),
    api<{ unread: number }>('GET', '/api/notifications/unread-count'),
    api<Page<Notification>>('GET', '/api/notifications?limit=1'),
    api<Page<Chat>>('GET', '/api/chats?limit=100'),
  ]);
  store.me = me;
  store.unreadNotifications = unread.unread;
  store.chatUnread.clear();
  for (const chat of chats.items) {
    store.chatUnread.set(chat.chat_id, chat.unread);
    store.presence.set(chat.peer.id, chat.peer_presence.presence);
  }
  live.lastNotificationId = Math.max(live.lastNotificationId, notes.items[0]?.id ?? 0);
  live.lastChatId = Math.max(live.lastChatId, ...chats.items.map((c) => c.last_message.id));
  notify('me');
  notify('unread');
  notify('chats');
  live.start();
}

export function endSession(): void {
  live.stop();
  store.me = null;
  store.unreadNotifications = 0;
  store.chatUnread.clear();
  store.presence.clear();
  live.lastNotificationId = 0;
  live.lastChatId = 0;
}

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
