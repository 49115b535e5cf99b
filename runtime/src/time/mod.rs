//! Time: [`sleep`], [`timeout`], [`interval`] (asyncio's `sleep`,
//! `wait_for` and periodic callbacks), on one hierarchical timer wheel per
//! runtime thread (1 ms resolution; see `wheel.rs` and `driver.rs`).
//!
//! Timers never fire early. A timer is armed on the wheel of the thread that
//! first polls it (a thread without one, such as a `spawn_blocking` job, uses
//! a worker's) and fires there; dropping it from any thread disarms it
//! immediately. Polled with no ringwork runtime, a timer that has to wait
//! panics (see [`Sleep`]).

mod clock;
pub(crate) mod driver;
mod interval;
mod sleep;
mod timeout;
pub(crate) mod wheel;

pub(crate) use clock::Clock;
pub use clock::{advance, pause, resume, Instant};
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
