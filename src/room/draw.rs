//! The pre-queue of a scheduled sale: visitors who arrive before the start are put in a
//! random order at the start. The order is a permutation by seeded keys, so every node
//! (and a restarted one) derives the same draw from the seed, and an entry's place can
//! be estimated before the draw from its key alone.

use super::line::Line;
use super::settings::Event;

/// Where a pre-queue ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreQueue {
    /// Before the draw.
    Pending(Pending),
    /// Drawn: the place in line it was given.
    Drawn(usize),
    /// No such pre-queue entry.
    Unknown,
}

/// A pre-queue entry before the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Milliseconds until the start, when the order is drawn.
    pub starts_in_ms: u64,
    /// About how many entries the draw will put in front of this one: the draw orders
    /// entries by a seeded key ([`draw_key`]), so an entry's share of the key space is
    /// known before the start (times the entries joined so far).
    pub expected_ahead: u32,
    /// The entry's share of the key space, in millionths (its place in the draw as a
    /// fraction of the pre-queue, whatever its final length).
    pub share_ppm: u32,
}

impl Pending {
    /// Entry `i` of `len` in a pre-queue drawn with `seed`, `starts_in_ms` before the start.
    pub fn of(i: usize, seed: u64, len: usize, starts_in_ms: u64) -> Self {
        let share = if seed == 0 {
            0.0
        } else {
            draw_key(i, seed) as f64 / 18_446_744_073_709_551_616.0 // 2^64
        };
        Self {
            starts_in_ms,
            expected_ahead: (share * len as f64).min(u32::MAX as f64) as u32,
            share_ppm: (share * 1e6) as u32,
        }
    }

    /// Seconds until the start, rounded up.
    pub fn starts_in(&self) -> u32 {
        self.starts_in_ms.div_ceil(1000).min(u32::MAX as u64) as u32
    }
}

/// What a pre-queue visitor is told before the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreQueueWait {
    /// Seconds until the start.
    pub starts_in: u32,
    /// The start, Unix milliseconds (for a countdown that does not depend on polls).
    pub starts_at_ms: u64,
    /// When to poll again ([`prequeue_poll_ms`](super::pace::prequeue_poll_ms)).
    pub poll_ms: u32,
}

/// A room's pre-queue: the entries joined before the start and, once the start has come,
/// the place in line each was drawn.
#[derive(Debug, Default)]
pub(super) struct DrawState {
    /// Pre-queue entries joined so far (their order is drawn at the start).
    len: usize,
    /// After the draw: pre-queue entry → place in line.
    drawn: Option<Vec<u32>>,
    /// Seed of the draw (random, saved so a restart draws the same order).
    seed: u64,
    /// First place in line given to the pre-queue at the draw.
    base: Option<usize>,
}

impl DrawState {
    /// The pre-queue as saved: `len` entries, the draw's `seed` and, once drawn, its
    /// first place `base` (the same seed gives the same places again).
    pub(super) fn restore(len: usize, seed: u64, base: Option<usize>) -> Self {
        let mut state = Self {
            len,
            seed,
            ..Self::default()
        };
        if let Some(base) = base {
            state.base = Some(base);
            state.drawn = Some(state.places_of_draw(base));
        }
        state
    }

    /// Entries joined.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The draw's seed (0: none picked yet).
    pub(super) fn seed(&self) -> u64 {
        self.seed
    }

    /// First place of the drawn pre-queue, once drawn.
    pub(super) fn base(&self) -> Option<usize> {
        self.base
    }

    /// A visitor joins the pre-queue; returns their entry.
    pub(super) fn join(&mut self) -> usize {
        self.ensure_seed();
        self.len += 1;
        self.len - 1
    }

    /// Draws the pre-queue's order once `event`'s start has come: the entries, in the
    /// order of their [`draw_key`], are appended to `line`. True when this call drew.
    pub(super) fn draw_if_due(&mut self, event: Option<Event>, line: &mut Line, now: u32) -> bool {
        let Some(ev) = event else {
            return false;
        };
        if self.drawn.is_some() || (now as u64) < ev.start {
            return false;
        }
        self.ensure_seed();
        let base = line.len();
        for _ in 0..self.len {
            line.join(now);
        }
        self.drawn = Some(self.places_of_draw(base));
        self.base = Some(base);
        true
    }

    /// Where entry `i` stands at `now_ms` (Unix milliseconds), for a sale `event`.
    pub(super) fn entry(&self, i: usize, event: Option<Event>, now_ms: u64) -> PreQueue {
        match (&self.drawn, event) {
            (Some(places), _) => places
                .get(i)
                .map_or(PreQueue::Unknown, |&p| PreQueue::Drawn(p as usize)),
            (None, Some(ev)) if i < self.len => PreQueue::Pending(Pending::of(
                i,
                self.seed,
                self.len,
                (ev.start * 1000).saturating_sub(now_ms),
            )),
            _ => PreQueue::Unknown,
        }
    }

    /// Picks the draw's seed at the first pre-queue join (or at the draw, for entries
    /// saved before seeds were picked early): every entry's key is fixed from then on.
    fn ensure_seed(&mut self) {
        if self.seed == 0 {
            let mut b = [0u8; 8];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
            self.seed = u64::from_le_bytes(b) | 1;
        }
    }

    /// Pre-queue entry → place, for a draw whose first place is `base`.
    fn places_of_draw(&self, base: usize) -> Vec<u32> {
        draw_offsets(self.len, self.seed)
            .into_iter()
            .map(|k| (base + k as usize) as u32)
            .collect()
    }
}

/// The pre-queue draw for `n` entries and `seed`: entry → offset from the first drawn
/// place (the inverse of [`permutation`]).
pub(crate) fn draw_offsets(n: usize, seed: u64) -> Vec<u32> {
    let mut offset_of = vec![0u32; n];
    for (k, &entry) in permutation(n, seed).iter().enumerate() {
        offset_of[entry] = k as u32;
    }
    offset_of
}

/// A permutation of `0..n` from `seed`: the entries in order of their [`draw_key`], so
/// the same seed gives the same order after a restart, and an entry's place can be
/// estimated before the draw from its key alone.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<(u64, usize)> = (0..n).map(|i| (draw_key(i, seed), i)).collect();
    v.sort_unstable();
    v.into_iter().map(|(_, i)| i).collect()
}

/// Pre-queue entry `i`'s key in the draw: splitmix64 of the seed and the entry, distinct
/// for distinct entries (both steps are bijections), uniform, unknowable without the seed.
pub fn draw_key(i: usize, seed: u64) -> u64 {
    mix(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finaliser: a bijection on `u64` that scatters every input bit.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
