// Play: the matchmaking queue, your live match (to go back to after a
// reload), invitations waiting for you, and live matches to watch.

import { api, type LiveMatch, type Notification, type Page } from '../api';
import { type Child, errorText, h, mount, toast } from '../dom';
import { live } from '../live';
import { store } from '../state';
import { empty, userChip } from './common';
import { acceptInvite, describe } from './notifications';

/** Queued since (this socket's queue entry ends with the socket). */
let queuedAt: number | null = null;
live.on('game.match_found', () => { queuedAt = null; });
live.on('link', (e) => { if (e.state !== 'open') queuedAt = null; });

function queueCard(): { card: HTMLElement; stop: () => void } {
  const card = h('section', { class: 'card', 'aria-labelledby': 'queue-title' });
  let ticker: number | undefined;
  let stopped = false;
  const render = () => {
    clearInterval(ticker);
    if (stopped) return;
    if (queuedAt === null) {
      mount(card, h('h2', { id: 'queue-title' }, 'Quick match'),
        h('p', null, 'Join the queue to be paired with a player of your level.'),
        h('button', { class: 'primary', 'data-testid': 'queue-join', onclick: async () => {
          try {
            await live.request({ type: 'game.queue.join' });
            queuedAt = Date.now();
          } catch (e) {
            toast(`Could not join the queue: ${errorText(e)}`, 'error');
          }
          render();
        } }, 'Find a match'));
      return;
    }
    const status = h('p', { role: 'status', 'data-testid': 'queue-status' });
    const tick = () => { status.textContent = `Searching for an opponent… ${Math.floor((Date.now() - queuedAt!) / 1000)} s`; };
    tick();
    ticker = window.setInterval(() => (queuedAt === null ? render() : tick()), 1000);
    mount(card, h('h2', { id: 'queue-title' }, 'Quick match'), status,
      h('button', { onclick: async () => {
        try {
          await live.request({ type: 'game.queue.leave' });
        } catch (e) {
          toast(errorText(e), 'error');
        }
        queuedAt = null;
        render();
      } }, 'Leave the queue'));
  };
  render();
  return { card, stop: () => { stopped = true; clearInterval(ticker); } };
}

/** Fills `box` from `load`, but leaves it alone (and the focus in it)
 * when what would be shown has not changed. */
async function refresh<T>(box: HTMLElement, load: () => Promise<T>, view: (data: T) => Child): Promise<void> {
  try {
    const data = await load();
    const key = JSON.stringify(data);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    mount(box, view(data));
  } catch (e) {
    delete box.dataset.key;
    mount(box, h('p', { class: 'error', role: 'alert' }, errorText(e)));
  }
}

export function playView(root: HTMLElement): () => void {
  const mine = h('div');
  const invites = h('ul', { class: 'notifications' });
  const matches = h('ul', { class: 'matches', 'data-testid': 'live-matches' });
  const queue = queueCard();
  const load = () => {
    void refresh(matches, () => api<LiveMatch[]>('GET', '/api/matches/live'), (items) => {
      const own = items.find((m) => m.players.left.id === store.me?.id || m.players.right.id === store.me?.id);
      mount(mine, own ? h('p', { class: 'banner', role: 'status' }, 'You are playing a match. ',
        h('a', { class: 'button primary', href: `#/game/${own.match_id}`, 'data-testid': 'rejoin' }, 'Go back to it')) : null);
      if (items.length === 0) return empty('No match is being played right now.');
      return items.map((m) => h('li', null,
        userChip(m.players.left), h('strong', null, ` ${m.score.left} – ${m.score.right} `), userChip(m.players.right),
        m.tournament_id ? h('a', { href: `#/tournaments/${m.tournament_id}`, class: 'muted' }, ' (tournament)') : null,
        h('a', { class: 'button', href: `#/game/${m.match_id}` }, 'Watch')));
    });
    void refresh(invites, async () => (await api<Page<Notification>>('GET', '/api/notifications?unread_only=true&limit=50')).items
      .filter((n) => n.kind === 'game_invite'), (open) => {
      if (open.length === 0) return empty('No invitations. Invite a friend from their profile.');
      return open.map((n) => h('li', null, h('p', null, describe(n)),
        h('div', { class: 'actions' },
          h('button', { class: 'primary', onclick: () => void acceptInvite(n) }, 'Accept'),
          h('button', { onclick: async () => {
            try {
              await live.request({ type: 'game.invite.decline', invite_id: n.payload.invite_id });
              await api('POST', `/api/notifications/${n.id}/read`);
            } catch (e) {
              toast(errorText(e), 'error');
            }
            load();
          } }, 'Decline'))));
    });
  };
  mount(root,
    h('h1', null, 'Play'),
    mine,
    h('div', { class: 'columns' },
      queue.card,
      h('section', { class: 'card', 'aria-labelledby': 'invites-title' }, h('h2', { id: 'invites-title' }, 'Invitations'), invites)),
    h('section', { 'aria-labelledby': 'live-title' }, h('h2', { id: 'live-title' }, 'Live matches'), matches),
  );
  load();
  const timer = window.setInterval(load, 5000);
  const off = live.on('notification', (e) => { if (e.notification.kind === 'game_invite') load(); });
  return () => {
    clearInterval(timer);
    off();
    queue.stop();
  };
}
