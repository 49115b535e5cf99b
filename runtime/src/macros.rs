//! `join!` and `select!`, and the items their expansions use.
//!
//! Both macros give each future its own local binding without asking the
//! caller for names: a recursive macro step introduces an identifier
//! (`fut`), and identifiers that different expansion steps introduce are
//! distinct to the compiler (macro hygiene), so `@expand` receives a list
//! of distinct bindings all spelled `fut`.

/// Polls several futures concurrently on the current task and returns all
/// their outputs as a tuple, once all have completed.
///
/// Unlike spawning, the futures run on this task (no `Send` or `'static`
/// needed) and never in parallel. Each poll starts with a different future,
/// so one that spends the task's budget cannot starve the others. At most
/// 16 futures; for more, or a dynamic number, use
/// [`task::join_all`](crate::task::join_all).
///
/// ```
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (a, b, c) = ringwork::join!(async { 1 }, async { "two" }, async { 3.0 });
/// assert_eq!((a, b, c), (1, "two", 3.0));
/// # });
/// ```
///
/// Cancel safety: dropping it drops every future, finished or not.
#[macro_export]
macro_rules! join {
    (@munch [$($acc:tt)*] [$($idx:tt)*]) => {
        $crate::join!(@expand $($acc)*)
    };
    (@munch [$($acc:tt)*] [$i:tt $($idx:tt)*] $future:expr $(, $($rest:tt)*)?) => {
        $crate::join!(@munch [$($acc)* [fut $i $future]] [$($idx)*] $($($rest)*)?)
    };
    (@munch [$($acc:tt)*] [] $($rest:tt)*) => {
        ::core::compile_error!("join! takes at most 16 futures; use task::join_all for more")
    };
    (@expand $([$name:ident $i:tt $future:expr])*) => {{
        $(
            let mut $name = ::core::pin::pin!($crate::__private::MaybeDone::new($future));
        )*
        let count: u32 = [$($i),*].len() as u32;
        // The first future polled rotates, so when one of them spends the
        // task's budget the others still get their turn.
        let mut start: u32 = 0;
        ::core::future::poll_fn(|cx| {
            let mut all_done = true;
            for k in 0..count {
                let index = (start + k) % count;
                $(
                    if index == $i {
                        all_done &= $name.as_mut().poll_done(cx);
                    }
                )*
            }
            start = (start + 1) % count;
            if all_done {
                ::core::task::Poll::Ready(($($name.as_mut().take_output(),)*))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    }};
    () => { () };
    ($($futures:tt)+) => {
        $crate::join!(@munch [] [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15] $($futures)+)
    };
}

/// Waits on several futures at once and runs the handler of the first to
/// complete; the other futures are dropped.
///
/// ```text
/// select! {
///     [biased;]
///     <pattern> = <future> [, if <condition>] => <handler>,
///     ...
///     [else => <handler>]
/// }
/// ```
///
/// - The `if` conditions are evaluated first, then the futures are created
///   in order; branches are polled in a random order on each poll (so none
///   is starved), or top to bottom after `biased;`. The order comes from
///   the runtime's seed (`Builder::seed`, `RINGWORK_SEED`): on a
///   current-thread runtime a seed replays it exactly.
/// - When a branch wins, the other futures are dropped before its handler
///   runs.
/// - A branch whose output does not match its pattern is disabled, and the
///   wait continues with the others. A branch whose `if` condition is false
///   is disabled from the start (its future is still created, not polled).
/// - When every branch is disabled, the `else` handler runs; without one,
///   `select!` panics.
/// - Handlers run outside the polling closure: `return`, `?`, `break` and
///   `continue` in them act on the surrounding code.
/// - At most 16 branches. Patterns may not use `mut` or `ref` bindings
///   (rebind inside the handler instead).
///
/// ```
/// use std::time::Duration;
/// use ringwork::sync::mpsc;
///
/// # let rt = ringwork::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, mut rx) = mpsc::channel::<u32>(1);
/// ringwork::spawn(async move { tx.send(7).await.unwrap() });
/// let got = ringwork::select! {
///     Some(v) = rx.recv() => v,
///     _ = ringwork::time::sleep(Duration::from_secs(10)) => 0,
/// };
/// assert_eq!(got, 7);
/// # });
/// ```
///
/// Cancel safety: dropping it drops every branch's future; each future's
/// own cancel safety applies (see the documentation of the futures you
/// select on).
#[macro_export]
macro_rules! select {
    // The end: no branch left to parse.
    (@parse $biased:tt; $else:tt; $vars:tt $idx:tt; [$($branches:tt)*];) => {
        $crate::select!(@expand $biased; $else; $($branches)*)
    };
    // `else` (must come last).
    (@parse $biased:tt; (); $vars:tt $idx:tt; [$($branches:tt)*]; else => $handler:block $(,)?) => {
        $crate::select!(@expand $biased; ($handler); $($branches)*)
    };
    (@parse $biased:tt; (); $vars:tt $idx:tt; [$($branches:tt)*]; else => $handler:expr $(,)?) => {
        $crate::select!(@expand $biased; ($handler); $($branches)*)
    };
    // A branch with a block handler (comma optional).
    (@parse $biased:tt; $else:tt; [$var:ident $($vars:ident)*] [$i:tt $($idx:tt)*];
        [$($branches:tt)*];
        $pattern:pat = $future:expr $(, if $cond:expr)? => $handler:block $(,)? $($rest:tt)*) => {
        $crate::select!(@parse $biased; $else; [$($vars)*] [$($idx)*];
            [$($branches)* [$var $i fut ($pattern) ($future) ($($cond)?) ($handler)]];
            $($rest)*)
    };
    // A branch with an expression handler (comma required unless last).
    (@parse $biased:tt; $else:tt; [$var:ident $($vars:ident)*] [$i:tt $($idx:tt)*];
        [$($branches:tt)*];
        $pattern:pat = $future:expr $(, if $cond:expr)? => $handler:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $biased; $else; [$($vars)*] [$($idx)*];
            [$($branches)* [$var $i fut ($pattern) ($future) ($($cond)?) ($handler)]];
            $($($rest)*)?)
    };
    (@parse $biased:tt; $else:tt; [] []; $($rest:tt)*) => {
        ::core::compile_error!("select! takes at most 16 branches")
    };
    (@expand $biased:tt; ($($else:tt)*);
        $([$var:ident $i:tt $name:ident ($pattern:pat) ($future:expr) ($($cond:expr)?) ($handler:expr)])*) => {{
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        enum __SelectOut<$($var,)*> {
            $($var($var),)*
            Disabled,
        }
        let branches: u32 = [$($i),*].len() as u32;
        // Conditions first, before any future is created (a condition may
        // look at what a future expression then borrows).
        let mut disabled: u64 = 0;
        $($(
            if !$cond {
                disabled |= 1u64 << $i;
            }
        )?)*
        // The futures live in this inner block only: the losers are dropped
        // before the winning handler runs (a losing `lock()` or `send()`
        // must not hold its place in a queue while the handler waits on the
        // same primitive).
        let out = {
        $(
            let mut $name = ::core::pin::pin!($future);
        )*
        ::core::future::poll_fn(|cx| {
            let start = if $biased { 0 } else { $crate::__private::random_below(branches) };
            for k in 0..branches {
                let branch = (start + k) % branches;
                $(
                    if branch == $i && disabled & (1u64 << $i) == 0 {
                        if let ::core::task::Poll::Ready(out) =
                            ::core::future::Future::poll($name.as_mut(), cx)
                        {
                            #[allow(unused_variables, unreachable_patterns)]
                            match &out {
                                $pattern => return ::core::task::Poll::Ready(__SelectOut::$var(out)),
                                _ => disabled |= 1u64 << $i,
                            }
                        }
                    }
                )*
            }
            if disabled.count_ones() == branches {
                return ::core::task::Poll::Ready(__SelectOut::Disabled);
            }
            ::core::task::Poll::Pending
        })
        .await
        };
        #[allow(unreachable_patterns, unreachable_code)]
        match out {
            $(
                __SelectOut::$var($pattern) => $handler,
            )*
            __SelectOut::Disabled => $crate::select!(@else $($else)*),
            _ => ::core::unreachable!("select!: a branch's output matched its pattern once"),
        }
    }};
    (@else) => {
        ::core::panic!("select!: every branch is disabled and there is no `else` branch")
    };
    (@else $handler:expr) => { $handler };
    // Entry points.
    (biased; $($rest:tt)*) => {
        $crate::select!(@parse true; ();
            [_0 _1 _2 _3 _4 _5 _6 _7 _8 _9 _10 _11 _12 _13 _14 _15]
            [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15];
            []; $($rest)*)
    };
    ($($rest:tt)*) => {
        $crate::select!(@parse false; ();
            [_0 _1 _2 _3 _4 _5 _6 _7 _8 _9 _10 _11 _12 _13 _14 _15]
            [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15];
            []; $($rest)*)
    };
}

/// Items the macros' expansions use. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    /// What `#[ringwork::test]` asks of a test's output: whether it failed
    /// (an `Err`), so that the run's seed is printed.
    pub trait TestOutcome {
        fn is_failure(&self) -> bool;
    }

    impl TestOutcome for () {
        fn is_failure(&self) -> bool {
            false
        }
    }

    impl<T, E> TestOutcome for Result<T, E> {
        fn is_failure(&self) -> bool {
            self.is_err()
        }
    }
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pin_project_lite::pin_project! {
        /// A future and then its output, for `join!`.
        #[project = MaybeDoneProj]
        #[project_replace = MaybeDoneReplace]
        pub enum MaybeDone<F: Future> {
            Pending { #[pin] future: F },
            Done { output: F::Output },
            Taken,
        }
    }

    impl<F: Future> MaybeDone<F> {
        pub fn new(future: F) -> Self {
            MaybeDone::Pending { future }
        }

        /// Polls the future if it is still pending; whether it is done.
        pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
            let output = match self.as_mut().project() {
                MaybeDoneProj::Pending { future } => match future.poll(cx) {
                    Poll::Ready(output) => output,
                    Poll::Pending => return false,
                },
                MaybeDoneProj::Done { .. } => return true,
                MaybeDoneProj::Taken => panic!("join!: output already taken"),
            };
            self.project_replace(MaybeDone::Done { output });
            true
        }

        /// Takes the output of a done future.
        pub fn take_output(self: Pin<&mut Self>) -> F::Output {
            match self.project_replace(MaybeDone::Taken) {
                MaybeDoneReplace::Done { output } => output,
                _ => panic!("join!: output taken before the future completed"),
            }
        }
    }

    /// A random number below `n` (`n > 0`): the order `select!` polls in.
    ///
    /// Inside a runtime the sequence comes from the runtime's seed (and the
    /// worker's index), so a run under a fixed seed (`Builder::seed`,
    /// `RINGWORK_SEED`, `#[ringwork::test]`) polls `select!` branches in the
    /// same order every time where the tasks run in the same order (always
    /// on a current-thread runtime). Outside any runtime it is seeded from
    /// the process's hash randomness.
    pub fn random_below(n: u32) -> u32 {
        use std::cell::Cell;
        std::thread_local! {
            /// The generator's state, and what it was seeded for: `Some((runtime
            /// id, worker))`, `None` for no runtime.
            static STATE: Cell<(u64, Option<(u64, usize)>)> = const { Cell::new((0, None)) };
        }
        let current = crate::runtime::Handle::with_current(|handle| {
            let handle = handle?;
            let worker = crate::scheduler::Worker::with_current(|w| w.map_or(0, |w| w.index() + 1));
            Some((handle.shared.id(), handle.seed(), worker))
        });
        let wanted = current.map(|(runtime, _, worker)| (runtime, worker));
        STATE.with(|state| {
            let (mut x, seeded_for) = state.get();
            if x == 0 || seeded_for != wanted {
                x = match current {
                    Some((_, seed, worker)) => splitmix(seed ^ (worker as u64).rotate_left(32)),
                    None => {
                        use std::hash::{BuildHasher, Hasher};
                        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                        h.write_usize(&h as *const _ as usize);
                        h.finish()
                    }
                } | 1;
            }
            // xorshift64*: plenty for spreading poll order.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.set((x, wanted));
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            ((r * u64::from(n)) >> 32) as u32
        })
    }

    /// SplitMix64's finaliser: spreads a seed's bits.
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
