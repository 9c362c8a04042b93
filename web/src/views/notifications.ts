// The notification inbox: newest first, with the action each kind asks
// for, kept live by the socket.

import { api, type Notification, type Page } from '../api';
import { errorText, h, mount, timeAgo, toast } from '../dom';
import { RequestError, live } from '../live';
import { empty, fill } from './common';

export function describe(n: Notification): string {
  const who = n.actor?.display_name ?? 'Someone';
  const p = n.payload;
  switch (n.kind) {
    case 'friend_request': return `${who} wants to be your friend.`;
    case 'friend_accepted': return `${who} accepted your friend request.`;
    case 'chat_message': return p.count > 1 ? `${who} sent you ${p.count} messages.` : `${who} sent you a message.`;
    case 'game_invite': return `${who} invites you to a game (first to ${p.points_to_win}).`;
    case 'game_invite_declined': return `${who} declined your invitation.`;
    case 'tournament_match_ready': return `Your tournament match (round ${p.round}) is ready: join it before ${new Date(p.deadline).toLocaleTimeString()}.`;
    case 'tournament_finished': return 'A tournament you played has finished.';
    default: return n.kind.replace(/_/g, ' ');
  }
}

export async function markRead(n: Notification): Promise<void> {
  if (n.read_at) return;
  await api('POST', `/api/notifications/${n.id}/read`);
  n.read_at = new Date().toISOString();
}

export async function acceptInvite(n: Notification): Promise<void> {
  try {
    await live.request({ type: 'game.invite.accept', invite_id: n.payload.invite_id });
    await markRead(n);
  } catch (e) {
    if (e instanceof RequestError && e.code === 'not_found') {
      toast('This invitation has expired or was withdrawn.', 'error');
      await markRead(n).catch(() => undefined);
    } else {
      toast(`Could not accept: ${errorText(e)}`, 'error');
    }
  }
}

function actions(n: Notification, refresh: () => void): HTMLElement[] {
  const p = n.payload;
  const act = (label: string, run: () => Promise<unknown>, primary = false) =>
    h('button', { class: primary ? 'primary' : '', onclick: async () => {
      try {
        await run();
        await markRead(n);
      } catch (e) {
        toast(errorText(e), 'error');
      }
      refresh();
    } }, label);
  switch (n.kind) {
    case 'friend_request':
      return [
        act('Accept', () => api('POST', `/api/friends/requests/${p.request_id}/accept`), true),
        act('Decline', () => api('POST', `/api/friends/requests/${p.request_id}/decline`)),
      ];
    case 'game_invite':
      return [
        act('Accept', () => acceptInvite(n), true),
        act('Decline', () => live.request({ type: 'game.invite.decline', invite_id: p.invite_id })),
      ];
    case 'chat_message':
      return [act('Open chat', async () => { location.hash = `/chat/${p.chat_id}`; }, true)];
    case 'tournament_match_ready':
      return [
        act('Play', async () => { location.hash = `/game/${p.match_id}`; }, true),
        act('Bracket', async () => { location.hash = `/tournaments/${p.tournament_id}`; }),
      ];
    case 'tournament_finished':
      return [act('Bracket', async () => { location.hash = `/tournaments/${p.tournament_id}`; })];
    default:
      return [];
  }
}

export function notificationsView(root: HTMLElement): () => void {
  const list = h('ul', { class: 'notifications', 'data-testid': 'notifications' });
  const load = () => fill(list, async () => {
    const page = await api<Page<Notification>>('GET', '/api/notifications?limit=50');
    if (page.items.length === 0) return empty('Nothing yet.');
    return page.items.map((n) => h('li', { class: n.read_at ? 'read' : 'unread', 'data-kind': n.kind },
      h('div', null,
        h('p', null, describe(n)),
        h('small', { class: 'muted' }, timeAgo(n.created_at)),
      ),
      h('div', { class: 'actions' },
        ...actions(n, load),
        n.read_at ? null : h('button', { class: 'link', onclick: async () => { await markRead(n).catch(() => undefined); void load(); } }, 'Mark read'),
      ),
    ));
  });
  mount(root,
    h('div', { class: 'row spread' },
      h('h1', null, 'Notifications'),
      h('button', { onclick: async () => {
        try {
          await api('POST', '/api/notifications/read-all');
        } catch (e) {
          toast(errorText(e), 'error');
        }
        void load();
      } }, 'Mark all read'),
    ),
    list,
  );
  void load();
  return live.on('notification', () => void load());
}
