// Drawing the server's Pong smoothly: the field's constants
// (src/domain/game.rs), snapshot interpolation on the server's tick clock,
// and own-paddle prediction.

import type { Pair } from '../api';

export const FIELD = { width: 800, height: 400 };
export const PADDLE = { width: 10, height: 80, inset: 30, speed: 420 };

export interface Snapshot {
  tick: number;
  ball: { x: number; y: number; vx: number; vy: number };
  paddles: Pair<number>;
  score: Pair<number>;
  last_input_seq: Pair<number>;
}

export interface View {
  ball: { x: number; y: number };
  paddles: Pair<number>;
}

/** Ticks drawn behind the newest snapshot, so that there is almost always
 * a snapshot on each side of the time drawn. */
const DELAY_TICKS = 2;
const KEEP = 32;

/** Maps server ticks to local time (the earliest arrival seen for a tick
 * number is the least delayed, so jitter never pushes the clock ahead),
 * and samples the motion between the two snapshots around "now minus a
 * little". A point scored between them is not interpolated across. */
export class Interpolator {
  private buffer: { snap: Snapshot }[] = [];
  private tickMs = 1000 / 60;
  private offset: number | null = null;

  reset(tickRate: number): void {
    this.buffer = [];
    this.tickMs = 1000 / tickRate;
    this.offset = null;
  }

  push(snap: Snapshot, now = performance.now()): void {
    const last = this.buffer[this.buffer.length - 1];
    if (last && snap.tick <= last.snap.tick) return;
    const o = now - snap.tick * this.tickMs;
    // Follow a later clock slowly (a pause shifts the server's ticks
    // against ours), an earlier one at once.
    this.offset = this.offset === null || o < this.offset ? o : this.offset + (o - this.offset) * 0.05;
    this.buffer.push({ snap });
    if (this.buffer.length > KEEP) this.buffer.shift();
  }

  sample(now = performance.now()): View | null {
    const n = this.buffer.length;
    if (n === 0 || this.offset === null) return null;
    const t = (now - this.offset) / this.tickMs - DELAY_TICKS;
    const first = this.buffer[0].snap;
    const last = this.buffer[n - 1].snap;
    if (t <= first.tick) return view(first);
    if (t >= last.tick) return view(last);
    for (let i = n - 1; i > 0; i--) {
      const a = this.buffer[i - 1].snap;
      const b = this.buffer[i].snap;
      if (a.tick <= t && t <= b.tick) {
        if (a.score.left !== b.score.left || a.score.right !== b.score.right) return view(b);
        const k = (t - a.tick) / (b.tick - a.tick);
        return {
          ball: { x: lerp(a.ball.x, b.ball.x, k), y: lerp(a.ball.y, b.ball.y, k) },
          paddles: { left: lerp(a.paddles.left, b.paddles.left, k), right: lerp(a.paddles.right, b.paddles.right, k) },
        };
      }
    }
    return view(last);
  }
}

function view(s: Snapshot): View {
  return { ball: { x: s.ball.x, y: s.ball.y }, paddles: { ...s.paddles } };
}

function lerp(a: number, b: number, k: number): number {
  return a + (b - a) * k;
}

/** Your paddle: moved by `delta` now (from the keys you hold), pulled
 * towards the server's position when a snapshot brings one, and snapped to
 * it when the two disagree by a lot. Kept in the field. */
export function predictPaddle(current: number, server: number | null, delta: number): number {
  let y = current + delta;
  if (server !== null) {
    const error = server - y;
    y = Math.abs(error) > PADDLE.height * 0.75 ? server : y + error * 0.2;
  }
  const half = PADDLE.height / 2;
  return Math.min(FIELD.height - half, Math.max(half, y));
}
