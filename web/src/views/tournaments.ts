// Tournaments: the list, creating one, joining with an alias, and the live
// bracket (with "your match is ready").

import { api, type Page, type Tournament, type TournamentSummary } from '../api';
import { errorText, field, form, h, input, mount, timeAgo, toast } from '../dom';
import { live } from '../live';
import { store } from '../state';
import { empty, fill } from './common';

export function tournamentsView(root: HTMLElement): void {
  const list = h('ul', { class: 'tournaments', 'data-testid': 'tournament-list' });
  let status: 'open' | 'running' | 'finished' = 'open';
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Show' });
  const load = () => {
    mount(tabs, ...(['open', 'running', 'finished'] as const).map((s) =>
      h('button', { 'aria-pressed': String(s === status), onclick: () => { status = s; load(); } }, s[0].toUpperCase() + s.slice(1))));
    void fill(list, async () => {
      const page = await api<Page<TournamentSummary>>('GET', `/api/tournaments?status=${status}&limit=50`);
      if (page.items.length === 0) return empty(`No ${status} tournament.`);
      return page.items.map((t) => h('li', null,
        h('a', { href: `#/tournaments/${t.id}`, 'data-tournament': t.name }, t.name),
        h('span', { class: 'muted' }, ` ${t.players}/${t.max_players} players · first to ${t.points_to_win} · ${timeAgo(t.created_at)}`)));
    });
  };
  const name = input({ name: 'name', required: true, maxlength: '50' });
  const size = h('select', { name: 'max_players' }, ...[4, 8, 16].map((n) => h('option', { value: String(n) }, `${n} players`)));
  const points = input({ name: 'points_to_win', type: 'number', min: '1', max: '21', value: '5' });
  const auto = input({ name: 'starts_when_full', type: 'checkbox', checked: true });
  mount(root,
    h('h1', null, 'Tournaments'),
    h('div', { class: 'columns' },
      h('section', null, tabs, list),
      form({ class: 'card', 'aria-labelledby': 'create-title' }, async () => {
        const t = await api<Tournament>('POST', '/api/tournaments', {
          name: name.value.trim(),
          max_players: Number(size.value),
          points_to_win: Number(points.value),
          starts_when_full: auto.checked,
        });
        location.hash = `/tournaments/${t.id}`;
      },
        h('h2', { id: 'create-title' }, 'Create a tournament'),
        field('Name', name),
        field('Players', size),
        field('Points to win a match', points),
        h('div', { class: 'field inline' }, auto, h('label', { for: (auto.id = 'starts-when-full') }, 'Start as soon as it is full')),
        h('button', { class: 'primary', type: 'submit' }, 'Create'))),
  );
  load();
}

/** How a finished pairing was decided. */
const RESULTS: Record<string, string> = { score: 'played', forfeit: 'won by forfeit', no_show: 'no show', bye: 'bye' };

function bracket(t: Tournament): HTMLElement {
  const alias = (id: number | null) => (id === null ? 'TBD' : t.players.find((p) => p.user.id === id)?.alias ?? `#${id}`);
  const rounds = t.rounds.length;
  return h('div', { class: 'bracket', 'data-testid': 'bracket' }, t.rounds.map((r) =>
    h('section', { class: 'round', 'aria-label': r.round === rounds ? 'Final' : `Round ${r.round}` },
      h('h3', null, r.round === rounds ? 'Final' : r.round === rounds - 1 && rounds > 2 ? 'Semi-finals' : `Round ${r.round}`),
      r.matches.map((m) => h('div', { class: `pairing ${m.status}` },
        ...[m.player_a, m.player_b].map((p) => h('div', { class: `slot${p !== null && p === m.winner_id ? ' winner' : ''}${p === store.me?.id ? ' me' : ''}` }, alias(p))),
        h('small', { class: 'muted' },
          m.status === 'done' ? RESULTS[m.result ?? ''] ?? 'done' : m.status === 'playing' ? 'playing now' : 'waiting',
          m.status === 'playing' && m.match_id ? h('a', { href: `#/game/${m.match_id}` }, m.player_a === store.me?.id || m.player_b === store.me?.id ? ' Play' : ' Watch') : null))))));
}

export function tournamentView(root: HTMLElement, [id]: string[]): () => void {
  const tid = Number(id);
  const box = h('div');
  mount(root, box);
  // Kept across renders: an update (someone joins) must not wipe what is
  // being typed.
  const aliasInput = input({ name: 'alias', maxlength: '20', 'data-testid': 'alias' });
  const joinForm = form({ class: 'row' }, async () => {
    render(await api<Tournament>('POST', `/api/tournaments/${tid}/join`, { alias: aliasInput.value.trim() || undefined }));
  }, field('Your alias', aliasInput), h('button', { class: 'primary', type: 'submit', 'data-testid': 'join' }, 'Join'));

  const render = (t: Tournament) => {
    const me = store.me!;
    const joined = t.players.some((p) => p.user.id === me.id);
    const act = (label: string, run: () => Promise<unknown>, primary = false) => h('button', { class: primary ? 'primary' : '', onclick: async () => {
      try {
        const next = await run();
        if (next && typeof next === 'object' && 'rounds' in next) render(next as Tournament);
      } catch (e) {
        toast(errorText(e), 'error');
      }
    } }, label);
    const ready = t.rounds.flatMap((r) => r.matches).find((m) => m.status === 'playing' && m.match_id && (m.player_a === me.id || m.player_b === me.id));
    const champion = t.champion_id ? t.players.find((p) => p.user.id === t.champion_id) : null;
    aliasInput.placeholder = me.display_name;
    mount(box,
      h('h1', null, t.name),
      h('p', { class: 'muted', 'data-testid': 'tournament-status' }, `${t.status} · ${t.players.length}/${t.max_players} players · first to ${t.points_to_win}`),
      champion ? h('p', { class: 'banner', 'data-testid': 'champion' }, `Champion: ${champion.alias}`) : null,
      ready ? h('p', { class: 'banner ready', role: 'alert', 'data-testid': 'match-ready' }, 'Your match is ready! ',
        h('a', { class: 'button primary', href: `#/game/${ready.match_id}` }, 'Play now')) : null,
      t.status === 'open' && !joined ? joinForm : null,
      h('div', { class: 'row' },
        t.status === 'open' && joined ? act('Leave', () => api('POST', `/api/tournaments/${tid}/leave`)) : null,
        t.status === 'open' && t.owner_id === me.id ? act('Start now', () => api('POST', `/api/tournaments/${tid}/start`), true) : null),
      h('h2', null, 'Players'),
      h('ul', { class: 'players', 'data-testid': 'players' }, t.players.map((p) => h('li', null,
        h('img', { src: p.user.avatar_url, alt: '', class: 'avatar small' }), p.alias,
        p.seed ? h('span', { class: 'muted' }, ` seed ${p.seed}`) : null))),
      t.rounds.length ? h('h2', null, 'Bracket') : null,
      t.rounds.length ? bracket(t) : null,
    );
  };

  api<Tournament>('GET', `/api/tournaments/${tid}`).then(render, (e) =>
    mount(box, h('p', { class: 'error', role: 'alert' }, errorText(e))));
  const watch = () => void live.request({ type: 'tournament.watch', tournament_id: tid }).catch(() => undefined);
  const offs = [
    live.on('tournament.updated', (e) => { if (e.tournament.id === tid) render(e.tournament); }),
    live.on('hello', watch),
  ];
  if (live.state === 'open') watch();
  return () => {
    offs.forEach((off) => off());
    live.send({ type: 'tournament.unwatch', tournament_id: tid });
  };
}
