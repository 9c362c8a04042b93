//! Pong rules: the field, the paddles, the ball, serving and scoring, as
//! pure deterministic code. The same inputs, tick by tick, always give the
//! same match; the match actor only feeds it inputs and a clock.
//!
//! Units: the field is [`FIELD_WIDTH`] × [`FIELD_HEIGHT`] units, origin at
//! the top left, y growing downwards. Speeds are in units per second; a
//! tick advances time by `1 / tick_rate` seconds.

use serde::{Deserialize, Serialize};

pub const FIELD_WIDTH: f64 = 800.0;
pub const FIELD_HEIGHT: f64 = 400.0;
pub const PADDLE_WIDTH: f64 = 10.0;
pub const PADDLE_HEIGHT: f64 = 80.0;
/// Distance from a side wall to the front face of that side's paddle.
pub const PADDLE_INSET: f64 = 30.0;
pub const PADDLE_SPEED: f64 = 420.0;
/// The ball is a square of this side, positioned by its centre.
pub const BALL_SIZE: f64 = 10.0;
pub const BALL_START_SPEED: f64 = 300.0;
/// Each paddle hit multiplies the speed by this, up to [`BALL_MAX_SPEED`].
pub const BALL_SPEEDUP: f64 = 1.06;
pub const BALL_MAX_SPEED: f64 = 720.0;
/// The steepest bounce off a paddle (hitting its very edge), in radians.
pub const MAX_BOUNCE_ANGLE: f64 = std::f64::consts::PI / 3.0;
/// Serve angles cycle through these (radians), so serves vary but the
/// match stays deterministic.
const SERVE_ANGLES: [f64; 4] = [0.2, -0.35, 0.35, -0.2];
pub const COUNTDOWN_SECONDS: u32 = 3;
pub const DEFAULT_POINTS_TO_WIN: u8 = 11;
pub const MAX_POINTS_TO_WIN: u8 = 21;

/// A player's side of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn index(self) -> usize {
        match self {
            Side::Left => 0,
            Side::Right => 1,
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// What a player holds down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Input {
    pub up: bool,
    pub down: bool,
}

impl Input {
    fn direction(self) -> f64 {
        match (self.up, self.down) {
            (true, false) => -1.0,
            (false, true) => 1.0,
            _ => 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ball {
    pub x: f64,
    pub y: f64,
    pub vx: f64,
    pub vy: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before a serve: the ball waits in the middle.
    Countdown,
    Playing,
    Ended,
}

/// What a tick made happen, for the actor to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A countdown second began: `seconds` left before the serve.
    Countdown {
        seconds: u32,
    },
    Point {
        scorer: Side,
    },
    Ended {
        winner: Side,
    },
}

/// One match's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Game {
    pub tick: u64,
    pub tick_rate: u32,
    pub points_to_win: u8,
    pub phase: Phase,
    pub ball: Ball,
    /// Each paddle's centre y.
    pub paddles: [f64; 2],
    pub score: [u8; 2],
    /// Ticks left in the countdown.
    countdown_ticks: u32,
    /// Who receives the next serve (the ball goes towards them).
    serve_to: Side,
    serves: usize,
}

impl Game {
    pub fn new(points_to_win: u8, tick_rate: u32) -> Self {
        let mut game = Game {
            tick: 0,
            tick_rate: tick_rate.max(1),
            points_to_win: points_to_win.clamp(1, MAX_POINTS_TO_WIN),
            phase: Phase::Countdown,
            ball: Ball {
                x: FIELD_WIDTH / 2.0,
                y: FIELD_HEIGHT / 2.0,
                vx: 0.0,
                vy: 0.0,
            },
            paddles: [FIELD_HEIGHT / 2.0; 2],
            score: [0, 0],
            countdown_ticks: 0,
            serve_to: Side::Left,
            serves: 0,
        };
        game.start_countdown();
        game
    }

    fn dt(&self) -> f64 {
        1.0 / f64::from(self.tick_rate)
    }

    fn start_countdown(&mut self) {
        self.phase = Phase::Countdown;
        self.countdown_ticks = COUNTDOWN_SECONDS * self.tick_rate;
        self.ball = Ball {
            x: FIELD_WIDTH / 2.0,
            y: FIELD_HEIGHT / 2.0,
            vx: 0.0,
            vy: 0.0,
        };
    }

    /// Seconds left in the countdown (0 when playing).
    pub fn countdown_seconds(&self) -> u32 {
        self.countdown_ticks.div_ceil(self.tick_rate)
    }

    fn serve(&mut self) {
        let angle = SERVE_ANGLES[self.serves % SERVE_ANGLES.len()];
        self.serves += 1;
        let direction = match self.serve_to {
            Side::Left => -1.0,
            Side::Right => 1.0,
        };
        self.ball.vx = direction * BALL_START_SPEED * angle.cos();
        self.ball.vy = BALL_START_SPEED * angle.sin();
        self.phase = Phase::Playing;
    }

    /// The x of a paddle's front face (the side the ball hits).
    pub fn paddle_face(side: Side) -> f64 {
        match side {
            Side::Left => PADDLE_INSET,
            Side::Right => FIELD_WIDTH - PADDLE_INSET,
        }
    }

    /// Advances one tick with both players' inputs.
    pub fn step(&mut self, inputs: [Input; 2]) -> Vec<Event> {
        let mut events = Vec::new();
        if self.phase == Phase::Ended {
            return events;
        }
        self.tick += 1;
        let dt = self.dt();
        // Paddles move in every phase but the end, so players can get ready.
        let half = PADDLE_HEIGHT / 2.0;
        for (paddle, input) in self.paddles.iter_mut().zip(inputs) {
            *paddle =
                (*paddle + input.direction() * PADDLE_SPEED * dt).clamp(half, FIELD_HEIGHT - half);
        }
        match self.phase {
            Phase::Countdown => {
                if self.countdown_ticks.is_multiple_of(self.tick_rate) && self.countdown_ticks > 0 {
                    events.push(Event::Countdown {
                        seconds: self.countdown_ticks / self.tick_rate,
                    });
                }
                self.countdown_ticks = self.countdown_ticks.saturating_sub(1);
                if self.countdown_ticks == 0 {
                    self.serve();
                }
            }
            Phase::Playing => self.move_ball(dt, &mut events),
            Phase::Ended => {}
        }
        events
    }

    fn move_ball(&mut self, dt: f64, events: &mut Vec<Event>) {
        let r = BALL_SIZE / 2.0;
        let before = self.ball;
        let mut ball = before;
        ball.x += ball.vx * dt;
        ball.y += ball.vy * dt;
        // Walls: reflect inside the field.
        if ball.y < r {
            ball.y = 2.0 * r - ball.y;
            ball.vy = ball.vy.abs();
        } else if ball.y > FIELD_HEIGHT - r {
            ball.y = 2.0 * (FIELD_HEIGHT - r) - ball.y;
            ball.vy = -ball.vy.abs();
        }
        ball.y = ball.y.clamp(r, FIELD_HEIGHT - r);
        // Paddles: a swept test, so a fast ball cannot pass through one.
        for side in [Side::Left, Side::Right] {
            let face = Game::paddle_face(side);
            let (was_in_front, now_behind, moving_towards) = match side {
                Side::Left => (before.x - r >= face, ball.x - r < face, ball.vx < 0.0),
                Side::Right => (before.x + r <= face, ball.x + r > face, ball.vx > 0.0),
            };
            if !(was_in_front && now_behind && moving_towards) {
                continue;
            }
            // Where the ball's edge crossed the face.
            let edge_before = match side {
                Side::Left => before.x - r,
                Side::Right => before.x + r,
            };
            let edge_after = match side {
                Side::Left => ball.x - r,
                Side::Right => ball.x + r,
            };
            let t = if (edge_before - edge_after).abs() < f64::EPSILON {
                0.0
            } else {
                (edge_before - face) / (edge_before - edge_after)
            };
            let y_at = before.y + (ball.y - before.y) * t;
            let paddle_y = self.paddles[side.index()];
            let reach = PADDLE_HEIGHT / 2.0 + r;
            if (y_at - paddle_y).abs() > reach {
                continue;
            }
            let offset = ((y_at - paddle_y) / reach).clamp(-1.0, 1.0);
            let angle = offset * MAX_BOUNCE_ANGLE;
            let speed = (before.vx.hypot(before.vy) * BALL_SPEEDUP).min(BALL_MAX_SPEED);
            let direction = match side {
                Side::Left => 1.0,
                Side::Right => -1.0,
            };
            ball.vx = direction * speed * angle.cos();
            ball.vy = speed * angle.sin();
            ball.x = match side {
                Side::Left => face + r,
                Side::Right => face - r,
            };
            ball.y = y_at.clamp(r, FIELD_HEIGHT - r);
        }
        self.ball = ball;
        // Out past a side wall: the other side scores.
        let scorer = if ball.x + r < 0.0 {
            Some(Side::Right)
        } else if ball.x - r > FIELD_WIDTH {
            Some(Side::Left)
        } else {
            None
        };
        if let Some(scorer) = scorer {
            self.score[scorer.index()] += 1;
            events.push(Event::Point { scorer });
            if self.score[scorer.index()] >= self.points_to_win {
                self.phase = Phase::Ended;
                self.ball.vx = 0.0;
                self.ball.vy = 0.0;
                events.push(Event::Ended { winner: scorer });
            } else {
                // The next serve goes towards the player who lost the point.
                self.serve_to = scorer.other();
                self.start_countdown();
            }
        }
    }
}

/// Elo with K = 32: the rating changes of (winner, loser).
pub fn elo_changes(winner: i32, loser: i32) -> (i32, i32) {
    const K: f64 = 32.0;
    let expected = 1.0 / (1.0 + 10f64.powf(f64::from(loser - winner) / 400.0));
    // Rounded change of at most K: always fits an i32.
    #[allow(clippy::cast_possible_truncation)]
    let gain = (K * (1.0 - expected)).round() as i32;
    (gain, -gain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inputs_strategy() -> impl Strategy<Value = Vec<(u8, u8)>> {
        proptest::collection::vec((0u8..3, 0u8..3), 1..4000)
    }

    fn input(code: u8) -> Input {
        Input {
            up: code == 1,
            down: code == 2,
        }
    }

    fn play(points: u8, moves: &[(u8, u8)]) -> Game {
        let mut game = Game::new(points, 60);
        for &(l, r) in moves {
            game.step([input(l), input(r)]);
        }
        game
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_ball_never_leaves_the_field(moves in inputs_strategy()) {
            let mut game = Game::new(5, 60);
            let r = BALL_SIZE / 2.0;
            for (l, rt) in moves {
                game.step([input(l), input(rt)]);
                prop_assert!(game.ball.y >= r && game.ball.y <= FIELD_HEIGHT - r);
                // Past a side wall only for the tick a point is scored.
                prop_assert!(game.ball.x >= -BALL_MAX_SPEED / 60.0 - r);
                prop_assert!(game.ball.x <= FIELD_WIDTH + BALL_MAX_SPEED / 60.0 + r);
                for p in game.paddles {
                    prop_assert!((PADDLE_HEIGHT / 2.0..=FIELD_HEIGHT - PADDLE_HEIGHT / 2.0).contains(&p));
                }
                let speed = game.ball.vx.hypot(game.ball.vy);
                prop_assert!(speed <= BALL_MAX_SPEED + 1e-9);
            }
        }

        #[test]
        fn the_same_inputs_give_the_same_match(moves in inputs_strategy()) {
            prop_assert_eq!(play(3, &moves), play(3, &moves));
        }
    }

    #[test]
    fn an_idle_player_loses_and_the_match_ends() {
        // The left player follows the ball; the right one never moves.
        let mut game = Game::new(3, 60);
        let mut events = Vec::new();
        for _ in 0..60 * 120 {
            let follow = if game.ball.y < game.paddles[0] - 5.0 {
                Input {
                    up: true,
                    down: false,
                }
            } else if game.ball.y > game.paddles[0] + 5.0 {
                Input {
                    up: false,
                    down: true,
                }
            } else {
                Input::default()
            };
            events.extend(game.step([follow, Input::default()]));
            if game.phase == Phase::Ended {
                break;
            }
        }
        assert_eq!(game.phase, Phase::Ended);
        assert_eq!(game.score, [3, 0]);
        assert_eq!(events.last(), Some(&Event::Ended { winner: Side::Left }));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Point { .. }))
                .count(),
            3
        );
        assert!(events.contains(&Event::Countdown { seconds: 3 }));
    }

    #[test]
    fn paddle_hits_speed_the_ball_up_and_angle_it() {
        let mut game = Game::new(11, 60);
        game.phase = Phase::Playing;
        game.paddles[0] = 200.0;
        game.ball = Ball {
            x: 60.0,
            y: 220.0,
            vx: -300.0,
            vy: 0.0,
        };
        for _ in 0..10 {
            game.step([Input::default(); 2]);
        }
        assert!(game.ball.vx > 0.0, "bounced back");
        assert!(game.ball.vy > 0.0, "below the centre: angled down");
        let speed = game.ball.vx.hypot(game.ball.vy);
        assert!((speed - 300.0 * BALL_SPEEDUP).abs() < 1e-6);
    }

    #[test]
    fn elo_is_zero_sum_and_favours_upsets() {
        assert_eq!(elo_changes(1200, 1200), (16, -16));
        let (upset, _) = elo_changes(1000, 1400);
        let (expected, _) = elo_changes(1400, 1000);
        assert!(upset > expected);
    }
}
