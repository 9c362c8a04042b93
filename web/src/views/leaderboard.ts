// Players by rating, with their record.

import { api, type LeaderboardEntry, type Page } from '../api';
import { h, mount } from '../dom';
import { store } from '../state';
import { empty, fill, userChip } from './common';

export function leaderboardView(root: HTMLElement): void {
  const box = h('div', { 'data-testid': 'leaderboard' });
  mount(root, h('h1', null, 'Leaderboard'), box);
  void fill(box, async () => {
    const page = await api<Page<LeaderboardEntry>>('GET', '/api/leaderboard?limit=50');
    if (page.items.length === 0) return empty('Nobody has played yet.');
    return h('table', null,
      h('caption', { class: 'sr-only' }, 'Players by rating'),
      h('thead', null, h('tr', null, ...['Rank', 'Player', 'Rating', 'Wins', 'Losses', 'Streak'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, page.items.map((e) => h('tr', { class: e.user.id === store.me?.id ? 'me' : '' },
        h('td', null, String(e.rank)),
        h('td', null, userChip(e.user)),
        h('td', null, String(e.stats.rating)),
        h('td', null, String(e.stats.wins)),
        h('td', null, String(e.stats.losses)),
        h('td', null, String(e.stats.streak))))));
  });
}
