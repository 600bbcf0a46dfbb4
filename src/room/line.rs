//! The line: one slot per place, in order, with exact counts of live visitors in front.
//!
//! A place is an index. Its slot says what became of it; only `Waiting` slots are live
//! and counted. Nothing is ever inserted in front of a place, so `ahead` can only shrink
//! for a visitor who keeps polling. Returning visitors whose turn passed are served from a
//! separate recall lane, so they do not push anyone back either.

use std::collections::VecDeque;

use super::fenwick::Fenwick;

/// What became of one place in line. Times are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Not (or no longer) known to this node, e.g. after a restart until its ticket returns.
    Unknown,
    /// In line; last poll at this time.
    Waiting(u32),
    /// Called; must claim before this time.
    Called(u32),
    /// Claimed a pass.
    Admitted,
    /// Gave the place up.
    Left,
    /// Stopped polling while waiting; skipped at this time (recallable for a while).
    Skipped(u32),
    /// Called but did not claim; lapsed at this time (recallable for a while).
    Lapsed(u32),
    /// Came back after skip/lapse and waits in the recall lane.
    Recalled,
}

/// The ordered line of one room.
#[derive(Debug, Default)]
pub struct Line {
    slots: Vec<Slot>,
    live: Fenwick,
    waiting: u32,
    /// Every place before `head` has been dealt with (called, left, skipped…).
    head: usize,
    /// Where the abandonment sweep resumes.
    sweep: usize,
    recall: VecDeque<usize>,
    called: VecDeque<usize>,
}

impl Line {
    /// Places handed out so far (the next place's index).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True before anyone joined.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Live visitors waiting in the main line.
    pub fn waiting(&self) -> u32 {
        self.waiting
    }

    /// Visitors called who have not claimed yet.
    pub fn called(&self) -> u32 {
        self.called.len() as u32
    }

    /// Visitors waiting in the recall lane.
    pub fn recalled(&self) -> u32 {
        self.recall.len() as u32
    }

    /// The slot of `place` (Unknown past the end).
    pub fn slot(&self, place: usize) -> Slot {
        self.slots.get(place).copied().unwrap_or(Slot::Unknown)
    }

    /// Live visitors in front of `place`.
    pub fn ahead(&self, place: usize) -> u32 {
        self.live.prefix(place)
    }

    /// Live visitors behind `place`.
    pub fn behind(&self, place: usize) -> u32 {
        let through = self.live.prefix(place + 1);
        self.waiting.saturating_sub(through)
    }

    fn ensure(&mut self, len: usize) {
        if len > self.slots.len() {
            self.slots.resize(len, Slot::Unknown);
        }
        if len > self.live.len() {
            // Double so growth is amortised O(1) per join.
            self.live.grow(len.next_power_of_two().max(1024));
        }
    }

    fn set(&mut self, place: usize, slot: Slot) {
        let was_live = matches!(self.slots[place], Slot::Waiting(_));
        let is_live = matches!(slot, Slot::Waiting(_));
        match (was_live, is_live) {
            (false, true) => {
                self.live.add(place, 1);
                self.waiting += 1;
            }
            (true, false) => {
                self.live.add(place, -1);
                self.waiting -= 1;
            }
            _ => {}
        }
        self.slots[place] = slot;
    }

    /// A new place at the back of the line.
    pub fn join(&mut self, now: u32) -> usize {
        let place = self.slots.len();
        self.ensure(place + 1);
        self.set(place, Slot::Waiting(now));
        place
    }

    /// Re-places a ticket holder this node does not know (after a restart): back in line
    /// at the same place if that place has not been passed, else as a recall candidate.
    pub fn restore(&mut self, place: usize, now: u32) {
        self.ensure(place + 1);
        if self.slots[place] == Slot::Unknown {
            let slot = if place >= self.head {
                Slot::Waiting(now)
            } else {
                Slot::Skipped(now)
            };
            self.set(place, slot);
        }
    }

    /// Marks places `from..to` as presumed waiting at `now` (after a restart, so nobody's
    /// `ahead` grows as tickets trickle back; the sweep skips the ones that never return).
    pub fn presume_waiting(&mut self, from: usize, to: usize, now: u32) {
        self.ensure(to);
        self.head = self.head.max(from);
        for place in from..to {
            if self.slots[place] == Slot::Unknown {
                self.set(place, Slot::Waiting(now));
            }
        }
    }

    /// Hands out no place below `to` any more: after a restart, places issued after the
    /// last saved state may still come back with their tickets.
    pub fn reserve(&mut self, to: usize) {
        self.ensure(to);
    }

    /// Records a poll from a waiting visitor.
    pub fn seen(&mut self, place: usize, now: u32) {
        if let Some(Slot::Waiting(t)) = self.slots.get_mut(place) {
            *t = (*t).max(now);
        }
    }

    /// Moves a skipped or lapsed visitor to the recall lane; true if it was allowed.
    pub fn recall(&mut self, place: usize, now: u32, window: u32) -> bool {
        match self.slot(place) {
            Slot::Skipped(at) | Slot::Lapsed(at) if now <= at.saturating_add(window) => {
                self.set(place, Slot::Recalled);
                self.recall.push_back(place);
                true
            }
            _ => false,
        }
    }

    /// Gives a place up (leave). Returns true if it was waiting or called.
    pub fn leave(&mut self, place: usize) -> bool {
        match self.slot(place) {
            Slot::Waiting(_) | Slot::Called(_) | Slot::Recalled => {
                self.set(place, Slot::Left);
                self.called.retain(|&p| p != place);
                self.recall.retain(|&p| p != place);
                true
            }
            _ => false,
        }
    }

    /// A called visitor claims their pass. Returns false when they were not (or no longer)
    /// called.
    pub fn claim(&mut self, place: usize) -> bool {
        if matches!(self.slot(place), Slot::Called(_)) {
            self.set(place, Slot::Admitted);
            self.called.retain(|&p| p != place);
            true
        } else {
            false
        }
    }

    /// Calls up to `n` visitors: the recall lane first, then the head of the line,
    /// skipping anyone who stopped polling before `stale_before`. Returns the places
    /// called and how many were skipped on the way.
    pub fn call(
        &mut self,
        n: u32,
        now: u32,
        deadline: u32,
        stale_before: u32,
    ) -> (Vec<usize>, u32) {
        let mut out = Vec::new();
        let mut skipped = 0;
        while out.len() < n as usize {
            if let Some(place) = self.recall.pop_front() {
                self.set(place, Slot::Called(deadline));
                self.called.push_back(place);
                out.push(place);
                continue;
            }
            if self.waiting == 0 {
                break;
            }
            let place = self.head;
            if place >= self.slots.len() {
                break;
            }
            self.head += 1;
            match self.slots[place] {
                Slot::Waiting(seen) if seen < stale_before => {
                    self.set(place, Slot::Skipped(now));
                    skipped += 1;
                }
                Slot::Waiting(_) => {
                    self.set(place, Slot::Called(deadline));
                    self.called.push_back(place);
                    out.push(place);
                }
                _ => {}
            }
        }
        (out, skipped)
    }

    /// Lapses calls whose claim deadline passed; returns how many.
    pub fn lapse(&mut self, now: u32) -> u32 {
        let mut lapsed = 0;
        let called: Vec<usize> = self.called.iter().copied().collect();
        for place in called {
            if let Slot::Called(deadline) = self.slots[place] {
                if deadline < now {
                    self.set(place, Slot::Lapsed(now));
                    lapsed += 1;
                }
            }
        }
        if lapsed > 0 {
            let slots = &self.slots;
            self.called.retain(|&p| matches!(slots[p], Slot::Called(_)));
        }
        lapsed
    }

    /// Skips up to `budget` slots' worth of waiting visitors who stopped polling before
    /// `stale_before`, resuming where the last sweep stopped. Returns how many were skipped.
    pub fn sweep(&mut self, now: u32, stale_before: u32, budget: usize) -> u32 {
        let len = self.slots.len();
        if len == 0 {
            return 0;
        }
        let mut skipped = 0;
        let mut place = self.sweep.max(self.head);
        for _ in 0..budget.min(len) {
            if place >= len {
                place = self.head;
                if place >= len {
                    break;
                }
            }
            if let Slot::Waiting(seen) = self.slots[place] {
                if seen < stale_before {
                    self.set(place, Slot::Skipped(now));
                    skipped += 1;
                }
            }
            place += 1;
        }
        self.sweep = place;
        skipped
    }

    /// The index of the first place not yet dealt with (persisted across restarts).
    pub fn head(&self) -> usize {
        self.head
    }
}
