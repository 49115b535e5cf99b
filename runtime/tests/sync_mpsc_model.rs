//! The bounded mpsc channel against a model: a `VecDeque` with a capacity,
//! a count of reserved slots, a closed flag and a count of live senders.
//! Random sequences of `try_send`, `try_recv`, `close`, cloning and dropping
//! senders, `reserve_owned` polled once (pending means full; the dropped
//! future must give its place back) and using or dropping the permits must
//! give exactly the model's answers, in FIFO order. (The waiting paths are
//! covered by `sync_mpsc.rs` and the loom models; the unbounded channel and
//! the other models issue 17 lists are not written yet.)

use proptest::prelude::*;
use ringwork::sync::mpsc::{self, TryRecvError, TrySendError};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Clone)]
enum Step {
    /// `try_send` from the sender at this index (modulo the live ones).
    Send(usize),
    Recv,
    Close,
    CloneSender(usize),
    DropSender(usize),
    /// `reserve_owned` on a clone of a sender, polled once (pending means
    /// no room: the future is dropped, which must give its place back),
    /// keeping the permit.
    Reserve(usize),
    /// Send through the oldest kept permit.
    UsePermit,
    /// Drop the oldest kept permit unused.
    DropPermit,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => any::<usize>().prop_map(Step::Send),
        5 => Just(Step::Recv),
        1 => Just(Step::Close),
        1 => any::<usize>().prop_map(Step::CloneSender),
        1 => any::<usize>().prop_map(Step::DropSender),
        2 => any::<usize>().prop_map(Step::Reserve),
        2 => Just(Step::UsePermit),
        1 => Just(Step::DropPermit),
    ]
}

/// What the channel should hold and answer.
struct Model {
    queue: VecDeque<u32>,
    capacity: usize,
    /// Slots held by unused permits.
    reserved: usize,
    closed: bool,
    senders: usize,
}

impl Model {
    fn room(&self) -> bool {
        self.queue.len() + self.reserved < self.capacity
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_bounded_channel_answers_like_a_queue_with_a_capacity(
        capacity in 1usize..5,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let (tx, mut rx) = mpsc::channel::<u32>(capacity);
        let mut senders = vec![tx];
        let mut permits = VecDeque::new();
        let mut model = Model {
            queue: VecDeque::new(),
            capacity,
            reserved: 0,
            closed: false,
            senders: 1,
        };
        let mut next = 0u32;
        for step in steps {
            match step {
                Step::Send(i) => {
                    if senders.is_empty() {
                        continue;
                    }
                    next += 1;
                    let got = senders[i % senders.len()].try_send(next);
                    match got {
                        Ok(()) => {
                            prop_assert!(!model.closed && model.room(), "accepted {} with no room", next);
                            model.queue.push_back(next);
                        }
                        Err(TrySendError::Full(v)) => {
                            prop_assert_eq!(v, next);
                            prop_assert!(!model.closed && !model.room(), "Full with room or closed");
                        }
                        Err(TrySendError::Closed(v)) => {
                            prop_assert_eq!(v, next);
                            prop_assert!(model.closed, "Closed on an open channel");
                        }
                    }
                }
                Step::Reserve(i) => {
                    if senders.is_empty() {
                        continue;
                    }
                    let clone = senders[i % senders.len()].clone();
                    let mut reserve = pin!(clone.reserve_owned());
                    match reserve.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                        Poll::Ready(Ok(permit)) => {
                            prop_assert!(!model.closed && model.room(), "a permit with no room");
                            model.reserved += 1;
                            permits.push_back(permit);
                        }
                        Poll::Ready(Err(_)) => prop_assert!(model.closed, "refused on an open channel"),
                        Poll::Pending => {
                            prop_assert!(!model.closed && !model.room(), "waited with room");
                        }
                    }
                }
                Step::UsePermit => {
                    if let Some(permit) = permits.pop_front() {
                        next += 1;
                        drop(permit.send(next));
                        model.reserved -= 1;
                        // A permit reserved before `close` still delivers.
                        model.queue.push_back(next);
                    }
                }
                Step::DropPermit => {
                    if permits.pop_front().is_some() {
                        model.reserved -= 1;
                    }
                }
                Step::Recv => {
                    let got = rx.try_recv();
                    match model.queue.pop_front() {
                        Some(v) => prop_assert_eq!(got, Ok(v)),
                        // A permit still out may deliver, even after
                        // `close`.
                        None if model.reserved > 0 => {
                            prop_assert_eq!(got, Err(TryRecvError::Empty));
                        }
                        None if model.closed || model.senders == 0 => {
                            prop_assert_eq!(got, Err(TryRecvError::Disconnected));
                        }
                        None => prop_assert_eq!(got, Err(TryRecvError::Empty)),
                    }
                }
                Step::Close => {
                    rx.close();
                    model.closed = true;
                }
                Step::CloneSender(i) => {
                    if !senders.is_empty() {
                        let clone = senders[i % senders.len()].clone();
                        senders.push(clone);
                        model.senders += 1;
                    }
                }
                Step::DropSender(i) => {
                    if !senders.is_empty() {
                        let index = i % senders.len();
                        drop(senders.swap_remove(index));
                        model.senders -= 1;
                    }
                }
            }
        }
        // Whatever is left comes out in order.
        drop(permits);
        model.reserved = 0;
        while let Some(v) = model.queue.pop_front() {
            prop_assert_eq!(rx.try_recv(), Ok(v));
        }
    }
}
