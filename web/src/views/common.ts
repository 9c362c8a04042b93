// Pieces several screens show: a user with avatar and presence, lists that
// load, match history.

import { api, type HistoryItem, type Page, type Presence, type User } from '../api';
import { type Child, errorText, h, mount, timeAgo } from '../dom';
import { store } from '../state';

export function presenceDot(presence: Presence | undefined): HTMLElement {
  const status = presence ?? 'offline';
  const label = { online: 'online', in_game: 'in a game', offline: 'offline' }[status];
  return h('span', { class: `presence ${status}`, title: label, 'data-presence': status }, h('span', { class: 'sr-only' }, label));
}

export function userChip(user: User, presence?: Presence): HTMLElement {
  return h('a', { class: 'user-chip', href: `#/users/${user.id}` },
    h('img', { src: user.avatar_url, alt: '', class: 'avatar small' }),
    h('span', null, user.display_name),
    user.display_name !== user.username ? h('span', { class: 'muted' }, `@${user.username}`) : null,
    presence ? presenceDot(presence) : null,
  );
}

/** Runs `load` and shows its result in `box`, or the error. */
export async function fill(box: HTMLElement, load: () => Promise<Child>): Promise<void> {
  box.setAttribute('aria-busy', 'true');
  try {
    mount(box, await load());
  } catch (e) {
    mount(box, h('p', { class: 'error', role: 'alert' }, errorText(e)));
  } finally {
    box.removeAttribute('aria-busy');
  }
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'muted' }, text);
}

export function historyTable(userId: number): HTMLElement {
  const box = h('div', { class: 'history', 'data-testid': 'history' });
  void fill(box, async () => {
    const page = await api<Page<HistoryItem>>('GET', `/api/users/${userId}/matches?limit=20`);
    if (page.items.length === 0) return empty('No matches played yet.');
    return h('table', null,
      h('caption', { class: 'sr-only' }, 'Match history'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, 'Opponent'), h('th', { scope: 'col' }, 'Score'), h('th', { scope: 'col' }, 'Rating'), h('th', { scope: 'col' }, 'When'))),
      h('tbody', null, page.items.map((m) => h('tr', { 'data-testid': 'history-row' },
        h('td', { class: `result ${m.result}` }, m.result === 'win' ? 'Win' : m.result === 'loss' ? 'Loss' : 'Abandoned', m.reason && m.reason !== 'score' ? ` (${m.reason})` : ''),
        h('td', null, userChip(m.opponent)),
        h('td', null, `${m.score} – ${m.opponent_score}`),
        h('td', null, m.rating_change === null ? '–' : m.rating_change > 0 ? `+${m.rating_change}` : String(m.rating_change)),
        h('td', null, timeAgo(m.ended_at)),
      ))),
    );
  });
  return box;
}

export function presenceOf(userId: number, fallback: Presence): Presence {
  return store.presence.get(userId) ?? fallback;
}
