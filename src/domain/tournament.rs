//! Single-elimination brackets, as pure data: seeding, byes, and moving
//! winners on. The tournament actor persists every change and starts the
//! matches; this module only says who meets whom.
//!
//! A bracket for `n` players has `size` = the next power of two slots in
//! its first round, filled in the standard seeding order (1 meets `size`,
//! 2 meets `size - 1`, …, and the top seeds only meet late). When `n` is
//! not a power of two, the `size - n` best seeds get a bye: they go to the
//! second round without playing.

use serde::Serialize;

/// The most players in one tournament, and the fewest to start one.
pub const MAX_PLAYERS: usize = 16;
pub const MIN_PLAYERS_TO_START: usize = 3;
pub const MIN_MAX_PLAYERS: usize = 4;

/// One meeting in the bracket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pairing {
    /// 1 for the first round; the final is the last.
    pub round: u32,
    /// Position in its round, from 0.
    pub slot: u32,
    pub a: Option<i64>,
    pub b: Option<i64>,
    pub winner: Option<i64>,
    /// Decided without a match: one side had no opponent.
    pub bye: bool,
}

impl Pairing {
    /// Both players are known and it is not decided.
    pub fn is_ready(&self) -> bool {
        self.a.is_some() && self.b.is_some() && self.winner.is_none()
    }
}

/// The number of rounds for `players` players.
pub fn rounds(players: usize) -> u32 {
    players.max(2).next_power_of_two().trailing_zeros()
}

/// Seeds (1-based) in first-round order for a bracket of `size` (a power
/// of two): consecutive pairs meet.
pub fn seed_order(size: usize) -> Vec<usize> {
    let mut order = vec![1];
    while order.len() < size {
        let n = order.len() * 2;
        order = order.iter().flat_map(|&s| [s, n + 1 - s]).collect();
    }
    order
}

/// Builds the bracket for `seeded` players (best seed first): every round's
/// pairings, with byes decided and their winners moved on.
pub fn build(seeded: &[i64]) -> Vec<Pairing> {
    let size = seeded.len().max(2).next_power_of_two();
    let total_rounds = rounds(seeded.len());
    let mut pairings = Vec::new();
    for round in 1..=total_rounds {
        let slots = size >> round;
        for slot in 0..slots {
            pairings.push(Pairing {
                round,
                slot: u32::try_from(slot).unwrap_or(u32::MAX),
                a: None,
                b: None,
                winner: None,
                bye: false,
            });
        }
    }
    let order = seed_order(size);
    let player = |seed: usize| seeded.get(seed - 1).copied();
    for (slot, pair) in order.chunks(2).enumerate() {
        let p = &mut pairings[slot];
        p.a = player(pair[0]);
        p.b = player(pair[1]);
    }
    // Byes: a first-round pairing with one player sends them on.
    for slot in 0..size / 2 {
        let p = &pairings[slot];
        let alone = match (p.a, p.b) {
            (Some(x), None) | (None, Some(x)) => Some(x),
            _ => None,
        };
        if let Some(x) = alone {
            let (round, slot) = (p.round, p.slot);
            pairings[slot as usize].bye = true;
            record(&mut pairings, round, slot, x);
        }
    }
    pairings
}

/// Records `winner` for the pairing at (`round`, `slot`) and moves them to
/// the next round. Returns the pairing they now stand in, if any (none
/// after the final).
pub fn record(pairings: &mut [Pairing], round: u32, slot: u32, winner: i64) -> Option<(u32, u32)> {
    let p = pairings
        .iter_mut()
        .find(|p| p.round == round && p.slot == slot)?;
    p.winner = Some(winner);
    let next = pairings
        .iter_mut()
        .find(|p| p.round == round + 1 && p.slot == slot / 2)?;
    if slot.is_multiple_of(2) {
        next.a = Some(winner);
    } else {
        next.b = Some(winner);
    }
    Some((next.round, next.slot))
}

/// The winner of the final, once decided.
pub fn champion(pairings: &[Pairing]) -> Option<i64> {
    let last = pairings.iter().map(|p| p.round).max()?;
    pairings.iter().find(|p| p.round == last)?.winner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_keeps_the_best_apart() {
        assert_eq!(seed_order(4), vec![1, 4, 2, 3]);
        assert_eq!(seed_order(8), vec![1, 8, 4, 5, 2, 7, 3, 6]);
        assert_eq!(seed_order(16).len(), 16);
    }

    #[test]
    fn eight_players_play_three_rounds() {
        let players: Vec<i64> = (1..=8).collect();
        let mut b = build(&players);
        assert_eq!(b.len(), 7);
        assert_eq!(b.iter().filter(|p| p.is_ready()).count(), 4);
        assert_eq!((b[0].a, b[0].b), (Some(1), Some(8)));
        // The first round decided, the top seeds win.
        for slot in 0..4 {
            let p = b[slot as usize].clone();
            record(&mut b, 1, slot, p.a.unwrap().min(p.b.unwrap()));
        }
        let second: Vec<_> = b.iter().filter(|p| p.round == 2).collect();
        assert_eq!((second[0].a, second[0].b), (Some(1), Some(4)));
        assert_eq!((second[1].a, second[1].b), (Some(2), Some(3)));
        record(&mut b, 2, 0, 1);
        assert_eq!(champion(&b), None);
        assert_eq!(record(&mut b, 2, 1, 3), Some((3, 0)));
        assert_eq!(record(&mut b, 3, 0, 3), None);
        assert_eq!(champion(&b), Some(3));
    }

    #[test]
    fn five_players_get_three_byes() {
        let players = [10, 20, 30, 40, 50];
        let b = build(&players);
        assert_eq!(rounds(5), 3);
        let byes: Vec<_> = b.iter().filter(|p| p.bye).collect();
        assert_eq!(byes.len(), 3);
        assert!(byes.iter().all(|p| p.round == 1));
        // Seeds 1-3 go straight on; seeds 4 and 5 play.
        let ready: Vec<_> = b.iter().filter(|p| p.is_ready()).collect();
        assert_eq!(ready.len(), 2);
        assert_eq!((ready[0].a, ready[0].b), (Some(40), Some(50)));
        assert_eq!(
            (ready[1].round, ready[1].a, ready[1].b),
            (2, Some(20), Some(30))
        );
    }

    #[test]
    fn three_players_and_sixteen() {
        let b = build(&[1, 2, 3]);
        assert_eq!(b.iter().filter(|p| p.bye).count(), 1);
        assert_eq!(b.iter().filter(|p| p.is_ready()).count(), 1);
        let players: Vec<i64> = (1..=16).collect();
        let b = build(&players);
        assert_eq!(b.len(), 15);
        assert_eq!(b.iter().filter(|p| p.bye).count(), 0);
    }
}
