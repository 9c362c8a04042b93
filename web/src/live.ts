// The one websocket of this tab (docs/protocol.md): opened with a one-time
// ticket, reconnected with backoff, and resumed from the last notification
// and chat message ids seen, so nothing is missed across a reconnect.

import { ApiError, api } from './api';

export type ServerEvent = { type: string; id?: string | number | null; [key: string]: any };
type Listener = (event: ServerEvent) => void;
export type LinkState = 'connecting' | 'open' | 'offline';

/** Answers that end a request (they echo its `id`). */
const REPLIES = new Set([
  'ack', 'chat.ack', 'error', 'pong', 'notifications.replayed', 'chat.replayed',
  'game.state', 'game.invite_sent', 'tournament.updated',
]);

export class RequestError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

interface Pending {
  resolve: (event: ServerEvent) => void;
  reject: (error: Error) => void;
  timer: number;
}

export class Live {
  private ws: WebSocket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  private pending = new Map<string, Pending>();
  private seq = 0;
  private attempt = 0;
  private retryTimer: number | undefined;
  private running = false;
  /** Bumped by start and stop: a connect from an older run gives up. */
  private generation = 0;
  /** The largest ids seen: where a reconnect resumes (set from REST
   * before the first connect, so nothing between the two is missed). */
  lastNotificationId = 0;
  lastChatId = 0;
  state: LinkState = 'offline';

  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    this.ws?.close(1000);
    this.ws = null;
    this.setState('offline');
    this.failPending(new RequestError('offline', 'Disconnected.'));
  }

  /** Listens to one event type (`*` for all); returns the unsubscribe. */
  on(type: string, listener: Listener): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  /** Sends without waiting (inputs, typing). Dropped while offline. */
  send(message: Record<string, unknown>): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Sends a command and resolves with its answer (or rejects with the
   * server's error code). */
  request(message: Record<string, unknown>, timeoutMs = 10_000): Promise<ServerEvent> {
    const id = `c${++this.seq}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, id })) {
        reject(new RequestError('offline', 'Not connected to the server yet; try again in a moment.'));
        return;
      }
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', 'The server did not answer in time.'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  private setState(state: LinkState): void {
    this.state = state;
    this.emit({ type: 'link', state });
  }

  private emit(event: ServerEvent): void {
    this.listeners.get(event.type)?.forEach((f) => f(event));
    this.listeners.get('*')?.forEach((f) => f(event));
  }

  private failPending(error: Error): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }

  private async connect(): Promise<void> {
    const generation = this.generation;
    if (!this.running) return;
    this.setState('connecting');
    let ticket: string;
    try {
      ticket = (await api<{ ticket: string }>('POST', '/api/auth/ws-ticket')).ticket;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // logged out: the app stops us
      if (generation === this.generation) this.retry();
      return;
    }
    if (!this.running || generation !== this.generation) return;
    // Always resume, from 0 too: whatever happened after the REST snapshot
    // the app took before starting comes in the replay.
    const params = new URLSearchParams({
      ticket,
      since: String(this.lastNotificationId),
      chat_since: String(this.lastChatId),
    });
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    this.ws = ws;
    ws.onmessage = (message) => {
      if (this.ws === ws) this.receive(message.data);
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending(new RequestError('offline', 'The connection was lost; try again.'));
      if (!this.running) return;
      this.setState('offline');
      // 1001: the server restarts; 4002: we read too slowly. Both resume at
      // once; anything else backs off.
      if (close.code === 1001 || close.code === 4002) this.attempt = 0;
      this.retry();
    };
  }

  /** Asks for what was missed on one stream since the last id seen;
   * retried while the socket stays open. (`chat.replayed` with
   * `fetch_history` is the app's to handle: it reloads over REST, then
   * calls this.) */
  resume(stream: 'notifications' | 'chat', attempt = 0): void {
    const since = stream === 'chat' ? this.lastChatId : this.lastNotificationId;
    this.request({ type: `${stream}.resume`, since }).catch((e: RequestError) => {
      if (e.code === 'offline' || attempt >= 5) return; // a reconnect resumes anyway
      window.setTimeout(() => this.resume(stream, attempt + 1), 1000 * 2 ** attempt);
    });
  }

  private retry(): void {
    if (!this.running) return;
    const base = Math.min(15_000, 500 * 2 ** this.attempt);
    this.attempt++;
    const wait = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), wait);
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let event: ServerEvent;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type === 'hello') {
      this.attempt = 0;
      this.setState('open');
    }
    if (event.type === 'notification') {
      const id = event.notification?.id ?? 0;
      if (id <= this.lastNotificationId) return; // already seen (a replay overlap)
      this.lastNotificationId = id;
    }
    if (event.type === 'chat.message' || event.type === 'chat.ack') {
      const id = event.message?.id ?? 0;
      if (event.type === 'chat.message' && id <= this.lastChatId) return;
      if (event.type === 'chat.message') this.lastChatId = id;
    }
    if (event.type === 'notifications.replayed' && event.more) this.resume('notifications');
    if (event.type === 'chat.replayed' && event.more) this.resume('chat');
    // A replay the server could not finish (the one the URL asked for has
    // no id): ask again for both streams; what was already seen is skipped.
    if (event.type === 'error' && event.code === 'service_unavailable' && (event.id === undefined || event.id === null)) {
      window.setTimeout(() => {
        this.resume('notifications');
        this.resume('chat');
      }, 1000);
    }
    const id = event.id;
    if (id !== undefined && id !== null && REPLIES.has(event.type)) {
      const pending = this.pending.get(String(id));
      if (pending) {
        this.pending.delete(String(id));
        clearTimeout(pending.timer);
        if (event.type === 'error') pending.reject(new RequestError(event.code, event.message));
        else pending.resolve(event);
      }
    }
    this.emit(event);
  }
}

export const live = new Live();
