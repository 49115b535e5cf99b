//! A hierarchical timer wheel: 6 levels × 64 slots, 1 ms resolution.
//!
//! Level `l` has slots of `64^l` ms; a timer lives at the lowest level whose
//! slot span separates its deadline from the wheel's current time (the
//! highest 6-bit group in which `elapsed` and `deadline` differ). When time
//! reaches a slot of level `l > 0`, its timers are re-inserted ("cascaded")
//! at lower levels; level-0 timers fire. Deadlines beyond about 2.1 years are
//! parked at the farthest top-level slot and cascade down when it comes (see
//! [`MAX_DURATION_MS`]). Insert, remove and
//! fire are O(1); finding the
//! next expiration scans one 64-bit occupancy mask per level.
//!
//! Timers live in a slab; each slot is a doubly linked list through the slab
//! (indices, no pointers), so any timer can be unlinked in O(1) by its key.
//! A key carries a generation so a stale key never removes a reused entry.

use std::task::Waker;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// The farthest deadline the wheel holds: 63 top-level slots ahead (≈ 2.1
/// years). Farther deadlines are parked there and cascade down when it comes.
/// (Not 64: a timer must never sit in its level's *current* slot, or the wheel
/// would process that slot again at once.)
pub(crate) const MAX_DURATION_MS: u64 = 63 << (SLOT_BITS * (LEVELS as u32 - 1));
const NIL: u32 = u32::MAX;

/// Identifies a timer in the wheel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

struct Entry {
    generation: u32,
    state: EntryState,
}

enum EntryState {
    Vacant { next_free: u32 },
    Armed(Armed),
}

struct Armed {
    deadline: u64,
    waker: Option<Waker>,
    level: u8,
    slot: u8,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
}

struct Level {
    occupied: u64,
    slots: [List; SLOTS],
}

/// The wheel. Times are milliseconds since the owner's origin.
pub(crate) struct Wheel {
    elapsed: u64,
    levels: Vec<Level>,
    entries: Vec<Entry>,
    free_head: u32,
    len: usize,
}

fn level_for(elapsed: u64, deadline: u64) -> usize {
    let diff = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - diff.leading_zeros();
    ((significant / SLOT_BITS) as usize).min(LEVELS - 1)
}

fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1)
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            levels: (0..LEVELS)
                .map(|_| Level {
                    occupied: 0,
                    slots: [List { head: NIL }; SLOTS],
                })
                .collect(),
            entries: Vec::new(),
            free_head: NIL,
            len: 0,
        }
    }

    /// Timers armed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Arms a timer; `None` if `deadline` already passed (the caller treats
    /// the timer as fired and keeps its waker).
    pub(crate) fn insert(&mut self, deadline: u64, waker: Waker) -> Option<Key> {
        if deadline <= self.elapsed {
            return None;
        }
        let index = match self.free_head {
            NIL => {
                self.entries.push(Entry {
                    generation: 0,
                    state: EntryState::Vacant { next_free: NIL },
                });
                (self.entries.len() - 1) as u32
            }
            index => {
                let EntryState::Vacant { next_free } = self.entries[index as usize].state else {
                    unreachable!("free list points at an armed entry");
                };
                self.free_head = next_free;
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.state = EntryState::Armed(Armed {
            deadline,
            waker: Some(waker),
            level: 0,
            slot: 0,
            prev: NIL,
            next: NIL,
        });
        let key = Key {
            index,
            generation: entry.generation,
        };
        self.link(index);
        self.len += 1;
        Some(key)
    }

    fn armed(&mut self, index: u32) -> &mut Armed {
        match &mut self.entries[index as usize].state {
            EntryState::Armed(armed) => armed,
            EntryState::Vacant { .. } => unreachable!("linked entry is vacant"),
        }
    }

    /// Puts an armed entry in the slot its deadline belongs to now.
    fn link(&mut self, index: u32) {
        let elapsed = self.elapsed;
        let deadline = self.armed(index).deadline.min(elapsed + MAX_DURATION_MS);
        let level = level_for(elapsed, deadline);
        let slot = slot_for(deadline, level);
        let head = self.levels[level].slots[slot].head;
        {
            let armed = self.armed(index);
            armed.level = level as u8;
            armed.slot = slot as u8;
            armed.prev = NIL;
            armed.next = head;
        }
        if head != NIL {
            self.armed(head).prev = index;
        }
        self.levels[level].slots[slot].head = index;
        self.levels[level].occupied |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (level, slot, prev, next) = {
            let a = self.armed(index);
            (a.level as usize, a.slot as usize, a.prev, a.next)
        };
        if prev == NIL {
            self.levels[level].slots[slot].head = next;
        } else {
            self.armed(prev).next = next;
        }
        if next != NIL {
            self.armed(next).prev = prev;
        }
        if self.levels[level].slots[slot].head == NIL {
            self.levels[level].occupied &= !(1 << slot);
        }
    }

    fn release(&mut self, index: u32) -> Armed {
        let entry = &mut self.entries[index as usize];
        let state = std::mem::replace(
            &mut entry.state,
            EntryState::Vacant {
                next_free: self.free_head,
            },
        );
        entry.generation = entry.generation.wrapping_add(1);
        self.free_head = index;
        self.len -= 1;
        match state {
            EntryState::Armed(armed) => armed,
            EntryState::Vacant { .. } => unreachable!("released a vacant entry"),
        }
    }

    fn is_live(&self, key: Key) -> bool {
        self.entries.get(key.index as usize).is_some_and(|e| {
            e.generation == key.generation && matches!(e.state, EntryState::Armed(_))
        })
    }

    /// Whether `key` is still armed (not fired, not removed).
    pub(crate) fn contains(&self, key: Key) -> bool {
        self.is_live(key)
    }

    /// Replaces the waker of an armed timer; returns the old one, to be
    /// dropped by the caller outside any lock (dropping a waker may run user
    /// code that touches this wheel).
    pub(crate) fn set_waker(&mut self, key: Key, waker: &Waker) -> Option<Waker> {
        if !self.is_live(key) {
            return None;
        }
        let armed = self.armed(key.index);
        match &armed.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => armed.waker.replace(waker.clone()),
        }
    }

    /// Disarms a timer; returns its waker (to drop outside any lock).
    pub(crate) fn remove(&mut self, key: Key) -> Option<Waker> {
        if !self.is_live(key) {
            return None;
        }
        self.unlink(key.index);
        self.release(key.index).waker
    }

    /// The start of the earliest occupied slot: no timer fires before it.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        (0..LEVELS)
            .filter_map(|level| self.next_slot_start(level))
            .min()
    }

    /// Start time of the next occupied slot of `level` at or after the
    /// wheel's current position in that level.
    fn next_slot_start(&self, level: usize) -> Option<u64> {
        let occupied = self.levels[level].occupied;
        if occupied == 0 {
            return None;
        }
        let shift = level as u32 * SLOT_BITS;
        let slot_span = 1u64 << shift;
        let level_span = slot_span << SLOT_BITS;
        let now_slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
        // Rotate so that the current slot is bit 0.
        let rotated = occupied.rotate_right(now_slot as u32);
        let distance = rotated.trailing_zeros() as u64;
        let level_start = self.elapsed & !(level_span - 1);
        let start = level_start + (now_slot as u64 + distance) * slot_span;
        // A slot "behind" the current one belongs to the next rotation.
        Some(start.max(self.elapsed))
    }

    /// Advances to `now`, firing every timer whose deadline is `<= now`;
    /// their wakers are pushed to `fired` (wake them outside any lock).
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) {
        while let Some(start) = self.next_expiration() {
            if start > now {
                break;
            }
            self.elapsed = self.elapsed.max(start);
            // Process every level's slot that contains `start`.
            for level in 0..LEVELS {
                let shift = level as u32 * SLOT_BITS;
                let slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
                if self.levels[level].occupied & (1 << slot) == 0 {
                    continue;
                }
                let mut index = self.levels[level].slots[slot].head;
                self.levels[level].slots[slot].head = NIL;
                self.levels[level].occupied &= !(1 << slot);
                while index != NIL {
                    let next = self.armed(index).next;
                    if self.armed(index).deadline <= now {
                        if let Some(waker) = self.release(index).waker {
                            fired.push(waker);
                        }
                    } else {
                        self.link(index);
                    }
                    index = next;
                }
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Removes every timer, returning their wakers (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for index in 0..self.entries.len() as u32 {
            if matches!(self.entries[index as usize].state, EntryState::Armed(_)) {
                self.unlink(index);
                if let Some(w) = self.release(index).waker {
                    wakers.push(w);
                }
            }
        }
        wakers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    /// Fires timers at `deadlines` by advancing 1 ms at a time and checks
    /// each fires exactly at (never before) its deadline.
    #[test]
    fn every_timer_fires_at_its_deadline_never_before() {
        let mut wheel = Wheel::new();
        let deadlines = [
            1u64, 2, 63, 64, 65, 100, 4095, 4096, 4097, 70_000, 262_143, 262_144, 300_001,
        ];
        let mut keys = Vec::new();
        for &d in &deadlines {
            let (count, w) = waker();
            keys.push((d, count, wheel.insert(d, w).unwrap()));
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while now < 300_010 {
            // Jump straight to the next expiration, as a parked worker does.
            now = wheel.next_expiration().map_or(300_010, |n| n.max(now + 1));
            wheel.advance(now, &mut fired);
            for w in fired.drain(..) {
                w.wake();
            }
            for (d, count, key) in &keys {
                let done = count.0.load(Ordering::SeqCst);
                if now < *d {
                    assert_eq!(done, 0, "timer {d} fired early at {now}");
                    assert!(wheel.contains(*key));
                } else {
                    assert_eq!(done, 1, "timer {d} not fired at {now}");
                }
            }
        }
        assert_eq!(wheel.len(), 0);
    }

    /// Timers due in one `advance` are handed out in deadline order.
    #[test]
    fn one_advance_fires_in_deadline_order() {
        struct Tag(u64, Arc<std::sync::Mutex<Vec<u64>>>);
        impl Wake for Tag {
            fn wake(self: Arc<Self>) {
                self.1.lock().unwrap().push(self.0);
            }
        }
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        for d in [500u64, 3, 70, 9, 3, 4100, 64, 1] {
            wheel
                .insert(d, Waker::from(Arc::new(Tag(d, log.clone()))))
                .unwrap();
        }
        let mut fired = Vec::new();
        wheel.advance(5000, &mut fired);
        fired.into_iter().for_each(Waker::wake);
        assert_eq!(*log.lock().unwrap(), vec![1, 3, 3, 9, 64, 70, 500, 4100]);
    }

    #[test]
    fn removed_timers_never_fire_and_stale_keys_are_ignored() {
        let mut wheel = Wheel::new();
        let (count, w) = waker();
        let key = wheel.insert(10, w).unwrap();
        assert!(wheel.remove(key).is_some());
        assert!(wheel.remove(key).is_none());
        let (count2, w2) = waker();
        let key2 = wheel.insert(10, w2).unwrap(); // reuses the slab entry
        assert!(
            !wheel.contains(key),
            "the stale key does not see the new timer"
        );
        assert!(wheel.remove(key).is_none());
        let mut fired = Vec::new();
        wheel.advance(10, &mut fired);
        fired.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(count2.0.load(Ordering::SeqCst), 1);
        assert!(!wheel.contains(key2));
    }

    #[test]
    fn past_deadlines_are_refused_and_far_ones_clamp() {
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        wheel.advance(1000, &mut fired);
        assert!(wheel.insert(1000, Waker::noop().clone()).is_none());
        let (count, w) = waker();
        wheel.insert(u64::MAX / 2, w).unwrap();
        assert!(wheel.next_expiration().unwrap() <= 1000 + MAX_DURATION_MS);
        wheel.advance(1000 + MAX_DURATION_MS + 5, &mut fired);
        assert!(
            fired.is_empty(),
            "a far timer cascades, it does not fire early"
        );
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(wheel.len(), 1);
    }
}

/// The wheel against a model: a map from timer to deadline, where a timer
/// fires exactly when time reaches its deadline.
#[cfg(test)]
mod model {
    use super::{Key, Wheel, MAX_DURATION_MS};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::task::{Wake, Waker};

    /// A waker that logs its timer's id when woken.
    struct Tag(usize, Arc<Mutex<Vec<usize>>>);
    impl Wake for Tag {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Arm a timer `delta` ms from now.
        Insert(u64),
        /// Disarm the timer of the `n`th key handed out (modulo their
        /// number; possibly fired or removed already: a stale key).
        Remove(usize),
        /// Advance time by `delta` ms.
        Advance(u64),
        /// Advance to the wheel's next expiration, as a parked worker does.
        AdvanceToNext,
    }

    /// Distances that hit every level, the 1 ms edges of slots, and the
    /// far, parked deadlines.
    fn delta() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..70,
            60u64..4200,
            4000u64..300_000,
            (0u64..6).prop_map(|level| 1u64 << (6 * level)),
            (0u64..6).prop_map(|level| (1u64 << (6 * level)) - 1),
            (MAX_DURATION_MS - 2)..(MAX_DURATION_MS + 2),
            Just(u64::MAX / 4),
        ]
    }

    /// The latest time the model advances to (see `Step::Advance`).
    const MAX_ELAPSED: u64 = 1 << 50;

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => delta().prop_map(Step::Insert),
            2 => any::<usize>().prop_map(Step::Remove),
            3 => delta().prop_map(Step::Advance),
            2 => Just(Step::AdvanceToNext),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every timer fires exactly once, in the `advance` that reaches its
        /// deadline (never before, never after); removed ones never;
        /// `contains`, `len` and `next_expiration` agree with the model.
        #[test]
        fn the_wheel_fires_what_a_sorted_map_of_deadlines_would(
            steps in proptest::collection::vec(step(), 1..120)
        ) {
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut wheel = Wheel::new();
            let mut now = 0u64;
            let mut live: BTreeMap<usize, u64> = BTreeMap::new();
            let mut keys: Vec<(usize, Key)> = Vec::new();
            let mut fired = Vec::new();
            for (id, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Insert(delta) => {
                        let deadline = now.saturating_add(delta);
                        let waker = Waker::from(Arc::new(Tag(id, log.clone())));
                        match wheel.insert(deadline, waker) {
                            Some(key) => {
                                prop_assert!(deadline > now);
                                live.insert(id, deadline);
                                keys.push((id, key));
                            }
                            None => prop_assert!(deadline <= now, "a future deadline refused"),
                        }
                    }
                    Step::Remove(n) => {
                        if keys.is_empty() {
                            continue;
                        }
                        let (timer, key) = keys[n % keys.len()];
                        let removed = wheel.remove(key).is_some();
                        prop_assert_eq!(removed, live.remove(&timer).is_some());
                    }
                    Step::Advance(_) | Step::AdvanceToNext => {
                        let to = match step {
                            // The wheel's time is milliseconds since its
                            // runtime started: it never nears `u64::MAX`
                            // (2^50 ms is 35,000 years), and the wheel's
                            // arithmetic relies on that.
                            Step::Advance(delta) => now + delta.min(MAX_ELAPSED.saturating_sub(now)),
                            _ => match wheel.next_expiration() {
                                Some(next) => next.max(now),
                                None => continue,
                            },
                        };
                        wheel.advance(to, &mut fired);
                        fired.drain(..).for_each(Waker::wake);
                        now = to;
                        let mut got = std::mem::take(&mut *log.lock().unwrap());
                        got.sort_unstable();
                        let due: Vec<usize> = live
                            .iter()
                            .filter(|(_, &deadline)| deadline <= now)
                            .map(|(&timer, _)| timer)
                            .collect();
                        for timer in &due {
                            live.remove(timer);
                        }
                        prop_assert_eq!(got, due, "fired at {}", now);
                    }
                }
                prop_assert_eq!(wheel.len(), live.len());
                for (timer, key) in &keys {
                    prop_assert_eq!(wheel.contains(*key), live.contains_key(timer));
                }
                match live.values().min() {
                    Some(&earliest) => {
                        let next = wheel.next_expiration();
                        prop_assert!(
                            next.is_some_and(|next| next <= earliest && next >= now),
                            "next_expiration {:?}, earliest deadline {}, now {}",
                            next, earliest, now
                        );
                    }
                    None => prop_assert_eq!(wheel.next_expiration(), None),
                }
            }
        }
    }
}
