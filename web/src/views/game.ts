// A Pong match on a canvas. The server simulates; this draws its
// snapshots, interpolated on the server's tick clock so motion stays
// smooth whatever the network jitter, predicts your own paddle from your
// keys, and shows the countdown, score, pauses and the end.

import { api, type Pair, type User } from '../api';
import { errorText, h, mount } from '../dom';
import { type ServerEvent, live } from '../live';
import { store } from '../state';
import { Interpolator, type Snapshot, predictPaddle, FIELD, PADDLE } from './pong';

type Role = 'left' | 'right' | 'spectator';

interface MatchInfo {
  match_id: number;
  players: Pair<User>;
  points_to_win: number;
  tournament_id: number | null;
  status: string;
  score: Pair<number>;
  winner_id: number | null;
  reason: string | null;
  rating_changes: Pair<number> | null;
}

/** The match this tab is playing (its view is open, it has not ended). */
export let playingMatch: number | null = null;

export function gameView(root: HTMLElement, [id]: string[]): () => void {
  const matchId = Number(id);
  const canvas = h('canvas', { width: String(FIELD.width), height: String(FIELD.height), class: 'pong', role: 'img', 'aria-label': 'Pong field', 'data-testid': 'pong' });
  const board = h('div', { class: 'scoreboard', 'aria-live': 'off' });
  const status = h('p', { class: 'game-status', role: 'status', 'data-testid': 'game-status' });
  const overlay = h('div', { class: 'overlay', hidden: true, 'data-testid': 'game-over' });
  const help = h('p', { class: 'muted' });
  mount(root, h('h1', { class: 'sr-only' }, 'Pong'), board, h('div', { class: 'field-wrap' }, canvas, overlay), status, help);

  const ctx = canvas.getContext('2d')!;
  const interp = new Interpolator();
  let role: Role = 'spectator';
  let players: Pair<User> | null = null;
  let pointsToWin = 0;
  let score: Pair<number> = { left: 0, right: 0 };
  let countdownEnd = 0;
  let paused: string | null = null;
  let ended = false;
  /** Attached on this socket (a `game.state` came back). */
  let joined = false;
  let seq = 0;
  const held = { up: false, down: false };
  let mine: number | null = null; // predicted own paddle centre
  let lastFrame = performance.now();
  let frame = 0;

  const names = () => players ? { left: players.left.display_name, right: players.right.display_name } : { left: 'Left', right: 'Right' };
  const renderBoard = () => {
    const n = names();
    mount(board,
      h('span', { class: role === 'left' ? 'me' : '' }, n.left),
      h('strong', { 'data-testid': 'score' }, `${score.left} : ${score.right}`),
      h('span', { class: role === 'right' ? 'me' : '' }, n.right));
    canvas.setAttribute('aria-label', `Pong: ${n.left} ${score.left}, ${n.right} ${score.right}. First to ${pointsToWin}.`);
  };

  const showEnd = (winner: number | null, final: Pair<number>, reason: string | null, changes: Pair<number> | null) => {
    ended = true;
    if (playingMatch === matchId) playingMatch = null;
    paused = null;
    score = final;
    renderBoard();
    const n = names();
    let headline: string;
    if (winner === null) headline = 'Match abandoned';
    else if (role !== 'spectator') headline = winner === store.me?.id ? 'You won!' : 'You lost';
    else headline = `${players && winner === players.left.id ? n.left : n.right} won`;
    const change = changes && role !== 'spectator' ? changes[role] : null;
    mount(overlay,
      h('h2', { 'data-testid': 'game-result' }, headline),
      h('p', null, `${n.left} ${final.left} – ${final.right} ${n.right}`, reason && reason !== 'score' ? ` (${reason})` : ''),
      change !== null ? h('p', null, `Rating ${change >= 0 ? '+' : ''}${change}`) : null,
      h('div', { class: 'row' },
        h('a', { class: 'button primary', href: '#/play' }, 'Play again'),
        store.me ? h('a', { class: 'button', href: `#/users/${store.me.id}` }, 'Match history') : null));
    overlay.hidden = false;
    status.textContent = headline;
  };

  const join = async () => {
    try {
      const state = await live.request({ type: 'game.join', match_id: matchId });
      onState(state);
    } catch (e) {
      const code = (e as any).code;
      if (code === 'match_over' || code === 'not_found') {
        try {
          const m = await api<MatchInfo>('GET', `/api/matches/${matchId}`);
          players = m.players;
          pointsToWin = m.points_to_win;
          role = m.players.left.id === store.me?.id ? 'left' : m.players.right.id === store.me?.id ? 'right' : 'spectator';
          if (m.status === 'live') {
            status.textContent = 'This match is being played on another server.';
          } else {
            showEnd(m.winner_id, m.score, m.reason, m.rating_changes);
          }
        } catch (err) {
          status.textContent = errorText(err);
        }
      } else if (code !== 'offline') {
        status.textContent = `Cannot join: ${errorText(e)}`;
      }
    }
  };

  function onState(e: ServerEvent): void {
    joined = true;
    role = e.role;
    if (role !== 'spectator' && e.phase !== 'ended') playingMatch = matchId;
    players = e.players;
    pointsToWin = e.points_to_win;
    interp.reset(e.tick_rate);
    interp.push(e.snapshot);
    score = e.snapshot.score;
    // Go on from the last input the server took: it forgets it only when
    // none of this user's sockets stayed attached (then it says 0).
    seq = role === 'spectator' ? 0 : e.snapshot.last_input_seq[role];
    mine = role === 'spectator' ? null : e.snapshot.paddles[role];
    countdownEnd = e.phase === 'countdown' ? performance.now() + e.countdown * 1000 : 0;
    paused = e.waiting_for?.length ? 'Waiting for the other player to join…' : null;
    help.textContent = role === 'spectator'
      ? 'You are watching.'
      : `You are on the ${role}. Move with ↑/↓ or W/S.`;
    renderBoard();
    if (e.phase === 'ended') status.textContent = 'The match is over.';
    // The server let go of our keys while we were away: say what we hold.
    if (held.up || held.down) sendInput();
  }

  const sendInput = () => {
    if (role === 'spectator' || ended) return;
    seq++;
    live.send({ type: 'game.input', match_id: matchId, seq, up: held.up, down: held.down });
  };
  const key = (down: boolean) => (e: KeyboardEvent) => {
    const target = e.target as HTMLElement;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
    const k = e.key.toLowerCase();
    const which = k === 'arrowup' || k === 'w' ? 'up' : k === 'arrowdown' || k === 's' ? 'down' : null;
    if (!which) return;
    e.preventDefault();
    if (held[which] === down) return;
    held[which] = down;
    sendInput();
  };
  const onKeyDown = key(true);
  const onKeyUp = key(false);
  const onBlur = () => {
    if (held.up || held.down) {
      held.up = held.down = false;
      sendInput();
    }
  };
  window.addEventListener('keydown', onKeyDown);
  window.addEventListener('keyup', onKeyUp);
  window.addEventListener('blur', onBlur);

  const mineOnly = (f: (e: ServerEvent) => void) => (e: ServerEvent) => { if (e.match_id === matchId) f(e); };
  const offs = [
    live.on('game.snapshot', mineOnly((e) => {
      interp.push(e as unknown as Snapshot);
      if (e.score.left !== score.left || e.score.right !== score.right) {
        score = e.score;
        renderBoard();
      }
      if (role !== 'spectator' && mine !== null) mine = predictPaddle(mine, e.paddles[role], 0);
    })),
    live.on('game.countdown', mineOnly((e) => { countdownEnd = performance.now() + e.seconds * 1000; })),
    live.on('game.point', mineOnly((e) => {
      score = e.score;
      renderBoard();
      const n = names();
      status.textContent = `${e.scorer === 'left' ? n.left : n.right} scores.`;
    })),
    live.on('game.paused', mineOnly((e) => {
      const away = (e.waiting_for as number[]).map((uid) => (players && uid === players.left.id ? names().left : names().right)).join(' and ');
      paused = `Paused: waiting for ${away} (up to ${Math.round(e.grace_ms / 1000)} s).`;
      status.textContent = paused;
    })),
    live.on('game.resumed', mineOnly(() => {
      paused = null;
      status.textContent = 'Resumed.';
    })),
    live.on('game.ended', mineOnly((e) => showEnd(e.winner, e.score, e.reason, e.rating_changes))),
    // A new socket (after a drop or a reload) must attach to the match again.
    live.on('hello', () => {
      joined = false;
      if (!ended) void join();
    }),
  ];

  const draw = (now: number) => {
    const dt = Math.min(0.1, (now - lastFrame) / 1000);
    lastFrame = now;
    const view = interp.sample(now);
    ctx.fillStyle = '#0b1020';
    ctx.fillRect(0, 0, FIELD.width, FIELD.height);
    ctx.strokeStyle = '#3a4670';
    ctx.setLineDash([8, 10]);
    ctx.beginPath();
    ctx.moveTo(FIELD.width / 2, 0);
    ctx.lineTo(FIELD.width / 2, FIELD.height);
    ctx.stroke();
    ctx.setLineDash([]);
    if (view) {
      const countingDown = countdownEnd > now;
      if (role !== 'spectator' && mine !== null && !paused && !ended && !countingDown) {
        const dir = (held.down ? 1 : 0) - (held.up ? 1 : 0);
        mine = predictPaddle(mine, null, dir * PADDLE.speed * dt);
      }
      const left = role === 'left' && mine !== null ? mine : view.paddles.left;
      const right = role === 'right' && mine !== null ? mine : view.paddles.right;
      ctx.fillStyle = '#f5f7ff';
      ctx.fillRect(PADDLE.inset - PADDLE.width, left - PADDLE.height / 2, PADDLE.width, PADDLE.height);
      ctx.fillRect(FIELD.width - PADDLE.inset, right - PADDLE.height / 2, PADDLE.width, PADDLE.height);
      ctx.fillStyle = '#ffd166';
      ctx.fillRect(view.ball.x - 5, view.ball.y - 5, 10, 10);
      let banner: string | null = null;
      if (ended) banner = null;
      else if (paused) banner = 'Paused';
      else if (countingDown) banner = String(Math.ceil((countdownEnd - now) / 1000));
      if (banner) {
        ctx.fillStyle = 'rgba(11, 16, 32, 0.6)';
        ctx.fillRect(0, 0, FIELD.width, FIELD.height);
        ctx.fillStyle = '#f5f7ff';
        ctx.font = 'bold 72px system-ui, sans-serif';
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.fillText(banner, FIELD.width / 2, FIELD.height / 2);
      }
    }
    frame = requestAnimationFrame(draw);
  };
  frame = requestAnimationFrame(draw);
  if (live.state === 'open') void join();
  else status.textContent = 'Connecting…';

  return () => {
    cancelAnimationFrame(frame);
    window.removeEventListener('keydown', onKeyDown);
    window.removeEventListener('keyup', onKeyUp);
    window.removeEventListener('blur', onBlur);
    offs.forEach((off) => off());
    if (playingMatch === matchId) playingMatch = null;
    if (joined && !ended) live.send({ type: 'game.leave', match_id: matchId });
  };
}
