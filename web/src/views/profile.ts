// A player's public profile: stats, presence, what you can do with them
// (befriend, block, message, invite to a game), and their match history.

import { api, type Profile } from '../api';
import { errorText, field, h, mount, timeAgo, toast } from '../dom';
import { live } from '../live';
import { changed, chatIdWith, store } from '../state';
import { fill, historyTable, presenceDot } from './common';

export function profileView(root: HTMLElement, [id]: string[]): () => void {
  const userId = Number(id);
  const card = h('div', { class: 'profile' });
  const render = () => fill(card, async () => {
    const p = await api<Profile>('GET', `/api/users/${userId}`);
    const presence = store.presence.get(p.id) ?? p.presence;
    const act = (label: string, run: () => Promise<unknown>, primary = false) =>
      h('button', { class: primary ? 'primary' : '', onclick: async () => {
        try {
          await run();
        } catch (e) {
          toast(errorText(e), 'error');
        }
        void render();
      } }, label);
    const relationActions: (HTMLElement | null)[] = [];
    switch (p.relation) {
      case 'none':
        relationActions.push(act('Add friend', () => api('POST', '/api/friends/requests', { user_id: p.id }), true));
        break;
      case 'request_received':
        relationActions.push(act('Accept friend request', () => api('POST', '/api/friends/requests', { user_id: p.id }), true));
        break;
      case 'request_sent':
        relationActions.push(h('span', { class: 'muted' }, 'Friend request sent'));
        break;
      case 'friends':
        relationActions.push(act('Unfriend', () => api('DELETE', `/api/friends/${p.id}`)));
        break;
    }
    const self = p.id === store.me?.id;
    if (!self && p.relation !== 'blocking') relationActions.push(act('Block', () => api('PUT', `/api/blocks/${p.id}`)));
    if (p.relation === 'blocking') relationActions.push(act('Unblock', () => api('DELETE', `/api/blocks/${p.id}`)));

    const points = h('select', { name: 'points', 'data-testid': 'invite-points' },
      ...[1, 3, 5, 11].map((n) => h('option', { value: String(n) }, `First to ${n}`)));
    points.value = '5';
    const invite = h('form', { class: 'row', onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        const sent = await live.request({ type: 'game.invite', user_id: p.id, points_to_win: Number(points.value) });
        toast(`Invitation sent to ${p.display_name}; it expires at ${new Date(sent.expires_at).toLocaleTimeString()}.`);
      } catch (err) {
        toast(`Could not invite: ${errorText(err)}`, 'error');
      }
    } }, field('Points', points), h('button', { class: 'primary', type: 'submit', 'data-testid': 'invite' }, 'Invite to a game'));

    return [
      h('div', { class: 'profile-head' },
        h('img', { src: p.avatar_url, alt: `${p.display_name}'s avatar`, class: 'avatar large' }),
        h('div', null,
          h('h1', null, p.display_name, ' ', h('span', { class: 'dot' }, presenceDot(presence))),
          h('p', { class: 'muted' }, `@${p.username}`, presence === 'offline' && p.last_seen_at ? ` · seen ${timeAgo(p.last_seen_at)}` : ''),
          p.bio ? h('p', null, p.bio) : null,
          h('p', { class: 'stats' },
            h('span', null, h('strong', null, String(p.stats.rating)), ' rating'),
            h('span', null, h('strong', null, String(p.stats.wins)), ' wins'),
            h('span', null, h('strong', null, String(p.stats.losses)), ' losses'),
            h('span', null, h('strong', null, String(p.stats.streak)), ' streak')),
        ),
      ),
      self ? h('p', null, h('a', { href: '#/settings' }, 'Edit your profile')) : h('div', { class: 'actions' },
        ...relationActions,
        p.relation === 'blocking' ? null : h('a', { class: 'button', href: `#/chat/${chatIdWith(p.id)}` }, 'Message'),
      ),
      self || p.relation === 'blocking' ? null : invite,
      h('h2', null, 'Match history'),
      historyTable(p.id),
    ];
  });
  mount(root, card);
  void render();
  // Presence changes only touch the dot (a re-render would lose the focus).
  return changed('presence', () => {
    const status = store.presence.get(userId);
    const dot = card.querySelector('.profile-head .dot');
    if (status && dot) mount(dot, presenceDot(status));
  });
}
