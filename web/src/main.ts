// The app shell: the login screens or the signed-in layout (navigation,
// counters, connection state), and the router. Screens route with the URL
// fragment (`#/chat/7_9`), so the server has one page to serve.

import './style.css';
import { ApiError, api, loggedIn, onLogout, type LiveMatch, type Notification } from './api';
import { h, mount, toast } from './dom';
import { live } from './live';
import { changed, chatUnreadTotal, endSession, startSession, store } from './state';
import { authView, finishOAuth } from './views/auth';
import { chatView } from './views/chat';
import { gameView, playingMatch } from './views/game';
import { leaderboardView } from './views/leaderboard';
import { notificationsView, describe, acceptInvite } from './views/notifications';
import { peopleView } from './views/people';
import { playView } from './views/play';
import { profileView } from './views/profile';
import { settingsView } from './views/settings';
import { tournamentView, tournamentsView } from './views/tournaments';

export type Cleanup = (() => void) | void;
type View = (root: HTMLElement, params: string[]) => Cleanup;

const routes: [RegExp, View][] = [
  [/^\/?$/, playView],
  [/^\/play$/, playView],
  [/^\/game\/(\d+)$/, gameView],
  [/^\/chat$/, chatView],
  [/^\/chat\/(\d+_\d+)$/, chatView],
  [/^\/people$/, peopleView],
  [/^\/users\/(\d+)$/, profileView],
  [/^\/notifications$/, notificationsView],
  [/^\/leaderboard$/, leaderboardView],
  [/^\/tournaments$/, tournamentsView],
  [/^\/tournaments\/(\d+)$/, tournamentView],
  [/^\/settings$/, settingsView],
];

const app = document.getElementById('app')!;
let cleanup: Cleanup;
let main: HTMLElement | null = null;
/** The shell's own subscriptions, dropped at logout. */
let shellOffs: (() => void)[] = [];

export function go(path: string): void {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

function currentPath(): string {
  return location.hash.replace(/^#/, '') || '/';
}

function route(): void {
  if (!loggedIn()) {
    renderLoggedOut();
    return;
  }
  if (!main || !store.me) return; // the session is still loading
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const path = currentPath();
  const section = path === '/' ? '/play' : path.replace(/^\/game\b.*/, '/play').replace(/^\/users\b.*/, '/people');
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav.main a')) {
    const target = a.getAttribute('href')!.slice(1);
    const active = section === target || section.startsWith(`${target}/`);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('div', { class: 'view' });
  mount(main, root);
  for (const [pattern, view] of routes) {
    const match = pattern.exec(path);
    if (match) {
      cleanup = view(root, match.slice(1));
      main.focus({ preventScroll: true });
      return;
    }
  }
  mount(root, h('h1', null, 'Not found'), h('p', null, h('a', { href: '#/' }, 'Back to the start')));
}

function renderLoggedOut(): void {
  main = null;
  shellOffs.forEach((off) => off());
  shellOffs = [];
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const mode = currentPath() === '/register' ? 'register' : 'login';
  mount(app, h('main', { id: 'main', class: 'auth-page', tabindex: '-1' }, authView(mode, onSignedIn)));
}

function badge(count: number, label: string): HTMLElement | null {
  if (count <= 0) return null;
  return h('span', null, h('span', { class: 'badge', 'aria-hidden': 'true' }, count > 99 ? '99+' : String(count)),
    h('span', { class: 'sr-only' }, ` (${count} ${label})`));
}

function renderShell(): void {
  const unreadLink = h('a', { href: '#/notifications', 'data-testid': 'nav-notifications' }, 'Notifications');
  const chatLink = h('a', { href: '#/chat', 'data-testid': 'nav-chat' }, 'Chat');
  const link = h('span', { class: 'link-state', role: 'status', 'data-testid': 'link-state' });
  const who = h('a', { href: '#/settings', class: 'who', 'data-testid': 'nav-me' });
  const refreshCounters = () => {
    mount(unreadLink, 'Notifications', badge(store.unreadNotifications, 'unread'));
    mount(chatLink, 'Chat', badge(chatUnreadTotal(), 'unread messages'));
  };
  const refreshMe = () => {
    const me = store.me;
    if (!me) return;
    mount(who, h('img', { src: me.avatar_url, alt: '', class: 'avatar small' }), me.display_name);
  };
  const refreshLink = () => {
    const text = { open: 'Connected', connecting: 'Connecting…', offline: 'Offline, reconnecting…' }[live.state];
    link.textContent = text;
    link.className = `link-state ${live.state}`;
  };
  shellOffs.forEach((off) => off());
  shellOffs = [
    changed('unread', refreshCounters),
    changed('chats', refreshCounters),
    changed('me', refreshMe),
    live.on('link', refreshLink),
  ];
  main = h('main', { id: 'main', tabindex: '-1' });
  mount(
    app,
    h('header', { class: 'top' },
      h('a', { href: '#/', class: 'brand' }, 'transcendence'),
      h('nav', { class: 'main', 'aria-label': 'Main' },
        h('a', { href: '#/play' }, 'Play'),
        chatLink,
        h('a', { href: '#/people', 'data-testid': 'nav-people' }, 'People'),
        h('a', { href: '#/tournaments', 'data-testid': 'nav-tournaments' }, 'Tournaments'),
        h('a', { href: '#/leaderboard' }, 'Leaderboard'),
        unreadLink,
      ),
      link,
      who,
    ),
    main,
  );
  refreshCounters();
  refreshMe();
  refreshLink();
}

async function onSignedIn(): Promise<void> {
  renderShell();
  mount(main!, h('p', { role: 'status' }, 'Loading…'));
  // Until the session has loaded, nothing is routed; a failure (the server
  // restarting, say) is retried with backoff.
  for (let attempt = 0; loggedIn(); attempt++) {
    try {
      await startSession();
      break;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // onLogout takes over
      const wait = Math.min(30, 2 ** attempt);
      mount(main!, h('p', { role: 'alert' }, `Could not load your session (${e instanceof Error ? e.message : e}). Trying again in ${wait} s…`));
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
  }
  if (!loggedIn()) return;
  if (currentPath() === '/login' || currentPath() === '/register') go('/');
  else route();
}

onLogout(() => {
  endSession();
  if (currentPath() !== '/login') location.hash = '/login';
  renderLoggedOut();
});

/** Takes the player to a match, unless they are playing another one (a
 * tournament pairing can be ready while a match is on: leaving it would
 * pause it and count against them). */
function toMatch(matchId: number, text: string): void {
  const onGame = /^\/game\/(\d+)$/.exec(currentPath());
  if (playingMatch !== null && playingMatch !== matchId) {
    toast(`${text} Finish this one first.`, 'info', { label: 'Go now', run: () => go(`/game/${matchId}`) });
  } else if (!onGame || Number(onGame[1]) !== matchId) {
    toast(text);
    go(`/game/${matchId}`);
  }
}

// Events that matter whatever the screen.
live.on('game.match_found', (e) => toMatch(e.match_id, `Match found against ${e.opponent.display_name}.`));
// A reconnect may have missed a match_found: a live match of mine that I
// am not looking at is offered again.
live.on('hello', async () => {
  try {
    const matches = await api<LiveMatch[]>('GET', '/api/matches/live');
    const mine = matches.find((m) => m.players.left.id === store.me?.id || m.players.right.id === store.me?.id);
    if (mine && !currentPath().startsWith(`/game/${mine.match_id}`)) {
      toast('You have a match in progress.', 'info', { label: 'Go to it', run: () => go(`/game/${mine.match_id}`) });
    }
  } catch {
    // the Play page shows it too
  }
});
live.on('game.invite_expired', () => toast('An invitation expired.'));
live.on('notification', (e) => {
  const n: Notification = e.notification;
  if (n.read_at) return;
  if (n.kind === 'game_invite') {
    toast(describe(n), 'info', { label: 'Accept', run: () => void acceptInvite(n) });
  } else if (n.kind === 'tournament_match_ready') {
    // Normally game.match_found brings the player there; after a
    // reconnect this replayed notification may be the only word of it.
    if (Date.parse(n.payload.deadline) > Date.now() && !currentPath().startsWith(`/game/${n.payload.match_id}`)) {
      toast(describe(n), 'info', { label: 'Play', run: () => go(`/game/${n.payload.match_id}`) });
    }
  } else if (n.kind !== 'chat_message') {
    toast(describe(n));
  }
});

window.addEventListener('hashchange', () => {
  // The skip link's target, not a route.
  if (location.hash === '#main') return;
  route();
});
document.querySelector<HTMLAnchorElement>('a.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main')?.focus();
});

async function boot(): Promise<void> {
  try {
    const providers = await api<{ oauth42: boolean }>('GET', '/api/auth/providers', undefined, { anonymous: true });
    store.oauth42 = providers.oauth42;
  } catch {
    store.oauth42 = false;
  }
  if (location.pathname === '/oauth/42') {
    const query = location.search;
    history.replaceState(null, '', '/#/');
    if (!(await finishOAuth(app, query, onSignedIn))) return;
  }
  if (loggedIn()) await onSignedIn();
  else renderLoggedOut();
}

void boot();
