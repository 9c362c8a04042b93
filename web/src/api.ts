// The REST side: one `api()` call for every endpoint, and the login
// session (access and refresh tokens) kept in step across tabs.
//
// Refresh tokens rotate and a reused one revokes the whole session, so two
// tabs must never refresh with the same token: a refresh runs under a Web
// Lock shared by every tab of this origin, and re-reads the stored pair
// first (another tab may just have refreshed it). Within a tab, one
// refresh at a time. (Web Locks need a secure context: over plain http on
// another host than localhost, only the in-tab guard and the jittered
// timers below keep tabs apart.)

export interface User {
  id: number;
  username: string;
  display_name: string;
  avatar_url: string;
  created_at: string;
}
export interface Stats { rating: number; wins: number; losses: number; streak: number }
export type Presence = 'online' | 'in_game' | 'offline';
export interface Me extends User {
  email: string;
  bio: string;
  language: string;
  languages: string[];
  two_factor_enabled: boolean;
  oauth_accounts: { provider: string; login: string }[];
  stats: Stats;
}
export interface Profile extends User {
  bio: string;
  relation: 'self' | 'none' | 'request_sent' | 'request_received' | 'friends' | 'blocking' | 'blocked';
  presence: Presence;
  last_seen_at: string | null;
  stats: Stats;
}
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface FriendRequest { id: number; from: User; to: User; created_at: string }
export interface Friend extends User { presence: Presence; last_seen_at: string | null }
export interface Notification {
  id: number;
  kind: string;
  actor: User | null;
  payload: Record<string, any>;
  created_at: string;
  read_at: string | null;
}
export interface ChatMessage {
  id: number;
  chat_id: string;
  sender_id: number;
  body: string;
  client_msg_id: string;
  created_at: string;
}
export interface Chat {
  chat_id: string;
  peer: User;
  peer_presence: { presence: Presence; last_seen_at: string | null };
  last_message: ChatMessage;
  unread: number;
  last_read_id: number;
  peer_last_read_id: number;
}
export interface Pair<T> { left: T; right: T }
export interface LiveMatch {
  match_id: number;
  players: Pair<User>;
  score: Pair<number>;
  points_to_win: number;
  tournament_id: number | null;
  started_at: string;
}
export interface HistoryItem {
  match_id: number;
  opponent: User;
  side: 'left' | 'right';
  score: number;
  opponent_score: number;
  result: 'win' | 'loss' | 'abandoned';
  reason: string | null;
  rating_change: number | null;
  tournament_id: number | null;
  ended_at: string | null;
}
export interface LeaderboardEntry { rank: number; user: User; stats: Stats }
export interface BracketMatch {
  slot: number;
  player_a: number | null;
  player_b: number | null;
  status: 'pending' | 'playing' | 'done';
  match_id: number | null;
  deadline: string | null;
  winner_id: number | null;
  result: string | null;
}
export interface Tournament {
  id: number;
  name: string;
  owner_id: number;
  status: 'open' | 'running' | 'finished';
  max_players: number;
  points_to_win: number;
  starts_when_full: boolean;
  players: { user: User; alias: string; seed: number | null }[];
  rounds: { round: number; matches: BracketMatch[] }[];
  champion_id: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}
export interface TournamentSummary {
  id: number;
  name: string;
  owner_id: number;
  status: Tournament['status'];
  players: number;
  max_players: number;
  points_to_win: number;
  champion_id: number | null;
  created_at: string;
}
export interface TokenPair { access_token: string; refresh_token: string; expires_in: number }
export interface Challenge { two_factor_required: true; challenge: string; expires_in: number }

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

interface Stored { access: string; refresh: string; accessExpiresAt: number }

const KEY = 'transcendence.session';
/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

let session: Stored | null = load();
let refreshTimer: number | undefined;
let inFlight: Promise<void> | null = null;
const logoutListeners = new Set<() => void>();
/** The error codes that mean "this login session is over". */
const SESSION_OVER = new Set(['unauthorized', 'invalid_token', 'session_revoked', 'token_expired', 'refresh_token_reused']);

function load(): Stored | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

function save(value: Stored | null): void {
  session = value;
  if (value) localStorage.setItem(KEY, JSON.stringify(value));
  else localStorage.removeItem(KEY);
  schedule();
}

function schedule(): void {
  clearTimeout(refreshTimer);
  if (!session) return;
  // Jitter, so that tabs sharing the pair do not all wake at once.
  const wait = Math.max(1000, session.accessExpiresAt - EARLY_MS - Date.now()) + Math.random() * 10_000;
  refreshTimer = window.setTimeout(() => void refresh().catch(() => undefined), wait);
}

/** The user a stored pair belongs to (the access token's subject). */
function subject(value: Stored | null): string | null {
  if (!value) return null;
  try {
    return JSON.parse(atob(value.access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub ?? null;
  } catch {
    return null;
  }
}

// Another tab logged in, refreshed or logged out.
window.addEventListener('storage', (event) => {
  if (event.key !== KEY) return;
  const before = subject(session);
  session = load();
  schedule();
  const after = subject(session);
  if (before === after) return; // a refresh
  if (before && !after) logoutListeners.forEach((f) => f());
  else location.reload(); // logged in here too, or as someone else: start over
});

export function loggedIn(): boolean {
  return session !== null;
}

export function onLogout(f: () => void): void {
  logoutListeners.add(f);
}

export function acceptTokens(pair: TokenPair): void {
  save({
    access: pair.access_token,
    refresh: pair.refresh_token,
    accessExpiresAt: Date.now() + pair.expires_in * 1000,
  });
}

/** Forgets the session here (and in every tab) and tells the app. */
export function forget(): void {
  const had = session !== null;
  save(null);
  if (had) logoutListeners.forEach((f) => f());
}

async function withLock<T>(f: () => Promise<T>): Promise<T> {
  if ('locks' in navigator) return navigator.locks.request('transcendence.refresh', f);
  return f();
}

/** A fresh access token: refreshed (once, for every tab) when it is about
 * to expire. */
export async function accessToken(): Promise<string> {
  if (!session) throw new ApiError(401, 'unauthorized', 'You are not logged in.');
  if (session.accessExpiresAt - EARLY_MS > Date.now()) return session.access;
  await refresh();
  if (!session) throw new ApiError(401, 'unauthorized', 'You are not logged in.');
  return session.access;
}

/** Refreshes the pair, unless another tab did meanwhile. `rejected` is an
 * access token the server refused as expired: it must be replaced even if
 * our clock thinks it is still good. */
function refresh(rejected?: string): Promise<void> {
  inFlight ??= withLock(() => refreshLocked(rejected)).finally(() => {
    inFlight = null;
  });
  return inFlight;
}

async function refreshLocked(rejected?: string): Promise<void> {
  {
    const stored = load();
    if (!stored) {
      forget();
      return;
    }
    const stillGood = stored.accessExpiresAt - EARLY_MS > Date.now() && stored.access !== rejected;
    if (stillGood) {
      session = stored; // another tab refreshed already
      schedule();
      return;
    }
    const res = await fetch('/api/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: stored.refresh }),
    });
    if (res.ok) {
      acceptTokens(await res.json());
    } else if (res.status === 401 || res.status === 400) {
      forget();
    } else {
      throw await errorOf(res);
    }
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = await res.json();
    return new ApiError(res.status, body.code ?? 'error', body.message ?? res.statusText);
  } catch {
    return new ApiError(res.status, 'error', `The server answered ${res.status}.`);
  }
}

export interface CallOptions {
  /** No Authorization header (register, login). */
  anonymous?: boolean;
  /** A raw body (an avatar) with its content type. */
  raw?: { body: Blob; type: string };
}

/** Calls the API: JSON in and out, `{code, message}` errors thrown as
 * `ApiError`. A 401 on an expired token refreshes and retries once. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {};
    if (!options.anonymous) headers.authorization = `Bearer ${await accessToken()}`;
    let payload: BodyInit | undefined;
    if (options.raw) {
      headers['content-type'] = options.raw.type;
      payload = options.raw.body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: payload });
    } catch {
      throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
    }
    if (res.status === 204) return undefined as T;
    if (res.ok) return (await res.json()) as T;
    const error = await errorOf(res);
    // A 401 may also be a wrong 2FA code: only these end the session here.
    if (res.status === 401 && !options.anonymous && SESSION_OVER.has(error.code)) {
      if (error.code === 'token_expired' && attempt === 0 && session) {
        await refresh(headers.authorization.slice('Bearer '.length));
        continue;
      }
      forget();
    }
    throw error;
  }
}

/** Ends this login session (or every one of the account) on the server,
 * then here. Forgets the tokens even when the server cannot be reached. */
export async function logout(everywhere: boolean): Promise<void> {
  try {
    if (everywhere) {
      await api('POST', '/api/auth/logout-all');
    } else {
      // Read under the lock: a refresh in another tab may be rotating it.
      const stored = await withLock(async () => load());
      if (stored) await api('POST', '/api/auth/logout', { refresh_token: stored.refresh }, { anonymous: true });
    }
  } catch {
    // The tokens are forgotten anyway; the server ends them at expiry.
  } finally {
    forget();
  }
}
