//! The driver's table of in-flight operations, keyed by `user_data`.
//!
//! `user_data` = generation (bits 32..63, top bit clear) | index (bits 0..31).
//! The generation of an index changes every time its entry is freed, so a
//! stale completion (or a late cancel request) for a reused index is
//! recognised and ignored instead of reaching the wrong operation.
//! `user_data` values with the top bit set are the driver's own SQEs.

use crate::slot::Completable;
use crate::sync::Arc;

/// `user_data` of the eventfd read the driver keeps pending.
pub(crate) const EVENTFD_TOKEN: u64 = (1 << 63) | 1;
/// `user_data` of `ASYNC_CANCEL` requests (their own CQEs are ignored).
pub(crate) const CANCEL_TOKEN: u64 = (1 << 63) | 2;

const GENERATION_MASK: u32 = u32::MAX >> 1;

struct Entry {
    generation: u32,
    slot: Option<Arc<dyn Completable>>,
}

#[derive(Default)]
pub(crate) struct OpTable {
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
}

pub(crate) fn is_internal(user_data: u64) -> bool {
    user_data >> 63 == 1
}

fn encode(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

fn decode(user_data: u64) -> (usize, u32) {
    (
        (user_data & u64::from(u32::MAX)) as usize,
        (user_data >> 32) as u32,
    )
}

impl OpTable {
    /// Stores `slot`; returns its `user_data`.
    pub(crate) fn insert(&mut self, slot: Arc<dyn Completable>) -> u64 {
        self.live += 1;
        match self.free.pop() {
            Some(index) => {
                let entry = &mut self.entries[index as usize];
                entry.slot = Some(slot);
                encode(index, entry.generation)
            }
            None => {
                let index =
                    u32::try_from(self.entries.len()).expect("more than 2^32 operations in flight");
                self.entries.push(Entry {
                    generation: 0,
                    slot: Some(slot),
                });
                encode(index, 0)
            }
        }
    }

    /// The slot for `user_data`, if it is still the same operation.
    pub(crate) fn get(&self, user_data: u64) -> Option<&Arc<dyn Completable>> {
        let (index, generation) = decode(user_data);
        let entry = self.entries.get(index)?;
        if entry.generation == generation {
            entry.slot.as_ref()
        } else {
            None
        }
    }

    /// Frees the entry for `user_data`; the next operation at this index gets
    /// a new generation.
    pub(crate) fn remove(&mut self, user_data: u64) -> Option<Arc<dyn Completable>> {
        let (index, generation) = decode(user_data);
        let entry = self.entries.get_mut(index)?;
        if entry.generation != generation {
            return None;
        }
        let slot = entry.slot.take()?;
        entry.generation = (entry.generation + 1) & GENERATION_MASK;
        self.free.push(index as u32);
        self.live -= 1;
        Some(slot)
    }

    /// Number of live operations.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// `user_data` of every live operation.
    pub(crate) fn live_user_data(&self) -> Vec<u64> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.slot.is_some())
            .map(|(i, e)| encode(i as u32, e.generation))
            .collect()
    }

    /// Forgets every slot without dropping it (the kernel may still own the
    /// resources: leaking is the only safe choice).
    pub(crate) fn leak_all(&mut self) {
        for entry in &mut self.entries {
            if let Some(slot) = entry.slot.take() {
                std::mem::forget(slot);
            }
        }
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::Completion;

    struct Nothing;
    impl Completable for Nothing {
        fn complete(&self, _: Completion, _: bool) {}
    }

    #[test]
    fn reused_index_gets_a_new_generation() {
        let mut table = OpTable::default();
        let a = table.insert(Arc::new(Nothing));
        assert!(table.remove(a).is_some());
        let b = table.insert(Arc::new(Nothing));
        assert_ne!(a, b);
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff, "same index");
        assert!(table.get(a).is_none(), "stale user_data is not routed");
        assert!(table.remove(a).is_none());
        assert!(table.get(b).is_some());
        assert!(!is_internal(a) && !is_internal(b));
        assert!(is_internal(EVENTFD_TOKEN) && is_internal(CANCEL_TOKEN));
    }
}
