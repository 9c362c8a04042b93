// Search, friends with live presence, friend requests, blocks.

import { api, type Friend, type FriendRequest, type Page, type User } from '../api';
import { errorText, field, h, input, mount, timeAgo, toast } from '../dom';
import { live } from '../live';
import { changed, store } from '../state';
import { empty, fill, presenceDot, userChip } from './common';

function button(label: string, run: () => Promise<unknown>, after: () => void, primary = false): HTMLButtonElement {
  return h('button', { class: primary ? 'primary' : '', onclick: async (e: Event) => {
    (e.currentTarget as HTMLButtonElement).disabled = true;
    try {
      await run();
    } catch (err) {
      toast(errorText(err), 'error');
    }
    after();
  } }, label);
}

export function peopleView(root: HTMLElement): () => void {
  const results = h('ul', { class: 'people', 'data-testid': 'search-results' });
  const friends = h('ul', { class: 'people', 'data-testid': 'friends' });
  const incoming = h('ul', { class: 'people', 'data-testid': 'incoming' });
  const outgoing = h('ul', { class: 'people' });
  const blocks = h('ul', { class: 'people' });

  const loadFriends = () => fill(friends, async () => {
    const page = await api<Page<Friend>>('GET', '/api/friends?limit=100');
    for (const f of page.items) store.presence.set(f.id, f.presence);
    if (page.items.length === 0) return empty('No friends yet: search for someone above.');
    return page.items.map((f) => h('li', { 'data-user': f.username, 'data-user-id': String(f.id) },
      userChip(f),
      h('span', { class: 'dot' }, presenceDot(store.presence.get(f.id) ?? f.presence)),
      h('span', { class: 'muted' }, (store.presence.get(f.id) ?? f.presence) === 'offline' && f.last_seen_at ? `seen ${timeAgo(f.last_seen_at)}` : ''),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `#/chat/${f.id < store.me!.id ? `${f.id}_${store.me!.id}` : `${store.me!.id}_${f.id}`}` }, 'Message'),
        button('Remove', () => api('DELETE', `/api/friends/${f.id}`), loadAll),
      ),
    ));
  });
  const loadRequests = () => Promise.all([
    fill(incoming, async () => {
      const page = await api<Page<FriendRequest>>('GET', '/api/friends/requests?direction=incoming');
      if (page.items.length === 0) return empty('No requests.');
      return page.items.map((r) => h('li', { 'data-user': r.from.username },
        userChip(r.from),
        h('div', { class: 'actions' },
          button('Accept', () => api('POST', `/api/friends/requests/${r.id}/accept`), loadAll, true),
          button('Decline', () => api('POST', `/api/friends/requests/${r.id}/decline`), loadAll),
        )));
    }),
    fill(outgoing, async () => {
      const page = await api<Page<FriendRequest>>('GET', '/api/friends/requests?direction=outgoing');
      if (page.items.length === 0) return empty('None pending.');
      return page.items.map((r) => h('li', null, userChip(r.to),
        h('div', { class: 'actions' }, button('Cancel', () => api('DELETE', `/api/friends/requests/${r.id}`), loadAll))));
    }),
  ]);
  const loadBlocks = () => fill(blocks, async () => {
    const page = await api<Page<User>>('GET', '/api/blocks?limit=100');
    if (page.items.length === 0) return empty('You block nobody.');
    return page.items.map((u) => h('li', null, userChip(u),
      h('div', { class: 'actions' }, button('Unblock', () => api('DELETE', `/api/blocks/${u.id}`), loadAll))));
  });
  function loadAll(): void {
    void loadFriends();
    void loadRequests();
    void loadBlocks();
  }

  const query = input({ type: 'search', name: 'q', placeholder: 'Username or display name', autocomplete: 'off', 'data-testid': 'search' });
  let timer: number | undefined;
  query.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      const q = query.value.trim();
      if (q.length < 2) {
        mount(results);
        return;
      }
      void fill(results, async () => {
        const page = await api<Page<User>>('GET', `/api/users?q=${encodeURIComponent(q)}&limit=20`);
        const others = page.items.filter((u) => u.id !== store.me?.id);
        if (others.length === 0) return empty('Nobody found.');
        return others.map((u) => h('li', { 'data-user': u.username }, userChip(u),
          h('div', { class: 'actions' },
            button('Add friend', () => api('POST', '/api/friends/requests', { user_id: u.id }).then(() => toast(`Friend request sent to ${u.display_name}.`)), loadAll, true),
            h('a', { class: 'button', href: `#/users/${u.id}` }, 'Profile'),
          )));
      });
    }, 250);
  });

  mount(root,
    h('h1', null, 'People'),
    h('section', { 'aria-labelledby': 'search-title' }, h('h2', { id: 'search-title' }, 'Find players'), field('Search', query), results),
    h('div', { class: 'columns' },
      h('section', { 'aria-labelledby': 'friends-title' }, h('h2', { id: 'friends-title' }, 'Friends'), friends),
      h('section', { 'aria-labelledby': 'requests-title' },
        h('h2', { id: 'requests-title' }, 'Friend requests'),
        h('h3', null, 'Received'), incoming,
        h('h3', null, 'Sent'), outgoing,
        h('h2', null, 'Blocked'), blocks),
    ),
  );
  loadAll();
  const offs = [
    // Presence changes only touch the dots (a re-render would lose the focus).
    changed('presence', () => {
      for (const row of friends.querySelectorAll<HTMLElement>('li[data-user-id]')) {
        const status = store.presence.get(Number(row.dataset.userId));
        const dot = row.querySelector('.dot');
        if (status && dot) mount(dot, presenceDot(status));
      }
    }),
    live.on('notification', (e) => {
      if (['friend_request', 'friend_accepted'].includes(e.notification.kind)) loadAll();
    }),
  ];
  return () => {
    offs.forEach((off) => off());
    clearTimeout(timer);
  };
}
