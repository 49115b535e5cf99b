//! The per-worker random number generator behind every random choice the
//! scheduler makes (today: where a thief starts looking for a victim).
//!
//! Seeded from `Builder::seed` / `RINGWORK_SEED` (or from the clock when
//! neither is given; the seed in use is reported by `Handle::seed`), mixed with
//! the worker index, so a run with the same seed makes the same choices.

/// xorshift64* (Vigna, 2016): small state, good enough for victim selection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastRand {
    state: u64,
}

/// SplitMix64 step: spreads consecutive seeds over the whole state space.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl FastRand {
    /// The generator of worker `index` under `seed`.
    pub(crate) fn for_worker(seed: u64, index: usize) -> FastRand {
        let state = splitmix64(seed ^ splitmix64(index as u64 + 1));
        // xorshift must not start at zero.
        FastRand {
            state: if state == 0 {
                0x2545_F491_4F6C_DD1D
            } else {
                state
            },
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (Lemire).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// A seed for runs that did not ask for one: the clock mixed with an address.
pub(crate) fn entropy_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    splitmix64(nanos ^ (&local as *const u8 as u64).rotate_left(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = FastRand::for_worker(42, 1);
        let mut b = FastRand::for_worker(42, 1);
        let xs: Vec<usize> = (0..32).map(|_| a.below(7)).collect();
        let ys: Vec<usize> = (0..32).map(|_| b.below(7)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 7));
    }

    #[test]
    fn workers_get_different_streams() {
        let mut a = FastRand::for_worker(42, 0);
        let mut b = FastRand::for_worker(42, 1);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_ne!(xs, ys);
    }

    #[test]
    fn below_covers_the_range() {
        let mut r = FastRand::for_worker(7, 0);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            seen[r.below(5)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
