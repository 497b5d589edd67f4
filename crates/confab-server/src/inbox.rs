//! One connection's outbound queue (what other connections send it), and why the
//! connection must end (it is stuck, or the server is stopping).
//!
//! Bounded in messages and in bytes, per connection and, through [`QueueBudget`], for all
//! connections together: a recipient that does not read holds at most its share, and the
//! server's queues at most the budget. What members forward (relay envelopes, signals) may
//! fill only [`FORWARDED_SHARE`] of a queue, so the server's own notices always fit in a
//! queue that is read. The queue records when it last made progress (was empty, or had a
//! message taken for writing): one holding messages with no progress for the stall time
//! belongs to a stuck reader. A connection that must end drops its queue at once.
//!
//! Bounded like a channel, but it holds memory only while it holds messages: an idle
//! connection's queue is an empty `VecDeque` (no allocation), where a tokio bounded channel
//! allocates its first block of 32 slots and a cache-padded header up front (about 2 KiB).
//! A queue that empties gives its buffer back. The connection task waits on it through a
//! poll that stores the task's waker, rather than a `Notify` future per wait.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::socket::Message;

/// What a queued message costs beyond its payload: its place in the queue and the shared
/// buffer's header.
const MESSAGE_OVERHEAD: usize = 64;

/// What members forward may fill of a queue (in messages and in bytes), as a fraction:
/// three quarters. The rest is for the server's notices (`peer-joined`, `mailbox-new`).
const FORWARDED_SHARE: (usize, usize) = (3, 4);

/// The queue; shared by the hub (pushing, under its lock) and the connection task.
///
/// The task waits through [`Inbox::poll_next`], which keeps only its waker here: no
/// `Notify` and no future per wait, so an idle connection's task stays small.
pub(crate) struct Inbox {
    state: Mutex<State>,
    budget: Arc<QueueBudget>,
}

/// The bounds every queue shares: messages and bytes per connection, and the bytes all
/// queues together may hold.
#[derive(Debug)]
pub(crate) struct QueueBudget {
    /// Messages one queue may hold (at least one).
    max_messages: usize,
    /// Bytes one queue may hold.
    max_bytes: usize,
    /// Bytes all queues together may hold.
    max_total: usize,
    /// How long a queue may hold messages without progress before its reader is stuck.
    stall: Duration,
    /// Bytes all queues hold now.
    total: AtomicUsize,
    /// Pushes that found the total at its bound.
    n_over: AtomicU64,
}

struct State {
    queue: VecDeque<Message>,
    /// What the queued messages cost (payloads and [`MESSAGE_OVERHEAD`]).
    n_bytes: usize,
    /// The connection task, if it waits.
    waker: Option<Waker>,
    /// Set once the connection must go.
    end: Option<Ended>,
    /// When the queue was last empty or last had a message taken.
    progress: Instant,
}

/// Why a connection must go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The server is stopping.
    Stopping,
    /// Its reader is stuck (or a server notice found its queue full).
    Kicked,
}

/// What [`Inbox::poll_next`] gives.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Message(Message),
    Ended(Ended),
}

/// Who a message comes from, which decides how much of a queue it may fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A relay envelope or signal another member sent: [`FORWARDED_SHARE`] of the queue.
    Forwarded,
    /// The server's own message: the whole queue.
    Notice,
}

/// Why a message was not queued (it was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This queue holds as many messages or bytes as one may (of the message's class).
    Full,
    /// All queues together hold as many bytes as the server's budget allows.
    OverBudget,
}

impl QueueBudget {
    /// Bounds of `max_messages` (at least one) and `max_bytes` per queue, `max_total`
    /// bytes in all; a queue is stuck after `stall` without progress.
    pub(crate) fn new(
        max_messages: usize,
        max_bytes: usize,
        max_total: usize,
        stall: Duration,
    ) -> QueueBudget {
        QueueBudget {
            max_messages: max_messages.max(1),
            max_bytes,
            max_total,
            stall,
            total: AtomicUsize::new(0),
            n_over: AtomicU64::new(0),
        }
    }

    /// Bytes all queues hold now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Pushes refused because all queues together were at the budget.
    pub(crate) fn n_over(&self) -> u64 {
        self.n_over.load(Ordering::Relaxed)
    }

    /// Takes `cost` bytes from the total, if they fit.
    fn try_take(&self, cost: usize) -> bool {
        let taken = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                total
                    .checked_add(cost)
                    .filter(|&after| after <= self.max_total)
            });
        if taken.is_err() {
            self.n_over.fetch_add(1, Ordering::Relaxed);
        }
        taken.is_ok()
    }

    fn give_back(&self, cost: usize) {
        self.total.fetch_sub(cost, Ordering::Relaxed);
    }
}

impl Inbox {
    /// An empty queue within `budget`.
    pub(crate) fn new(budget: Arc<QueueBudget>) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                n_bytes: 0,
                waker: None,
                end: None,
                progress: Instant::now(),
            }),
            budget,
        }
    }

    /// Queues `message` unless this queue (for its `class`) or all of them are full. A
    /// connection that must end takes nothing more (it will send nothing more): the
    /// message is dropped quietly.
    pub(crate) fn try_push(&self, message: Message, class: Class) -> Result<(), Refused> {
        let cost = cost(&message);
        let (max_messages, max_bytes) = match class {
            Class::Notice => (self.budget.max_messages, self.budget.max_bytes),
            Class::Forwarded => {
                let (num, den) = FORWARDED_SHARE;
                let share = |max: usize| (max / den).saturating_mul(num).max(1);
                (
                    share(self.budget.max_messages),
                    share(self.budget.max_bytes),
                )
            }
        };
        let waker = {
            let mut state = self.lock();
            if state.end.is_some() {
                return Ok(());
            }
            if state.queue.len() >= max_messages || state.n_bytes.saturating_add(cost) > max_bytes {
                return Err(Refused::Full);
            }
            if !self.budget.try_take(cost) {
                return Err(Refused::OverBudget);
            }
            if state.queue.is_empty() {
                state.progress = Instant::now();
            }
            state.n_bytes += cost;
            state.queue.push_back(message);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the queue holds messages and none was taken for the stall time: its reader
    /// is stuck.
    pub(crate) fn is_stuck(&self) -> bool {
        let state = self.lock();
        !state.queue.is_empty()
            && Instant::now().saturating_duration_since(state.progress) >= self.budget.stall
    }

    /// What the queued messages cost now.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().n_bytes
    }

    /// The oldest queued message, if any.
    #[cfg(test)]
    pub(crate) fn try_pop(&self) -> Option<Message> {
        self.pop(&mut self.lock())
    }

    /// The end, if the connection must go; else the oldest queued message; else `Pending`,
    /// and the task is woken by the next push or end. Cancel-safe: a message is taken
    /// only when this returns it.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut state = self.lock();
        if let Some(end) = state.end {
            return Poll::Ready(Next::Ended(end));
        }
        if let Some(message) = self.pop(&mut state) {
            return Poll::Ready(Next::Message(message));
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Why the connection must go, once it must; messages stay queued.
    fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Ended> {
        let mut state = self.lock();
        if let Some(end) = state.end {
            return Poll::Ready(end);
        }
        register(&mut state, cx);
        Poll::Pending
    }

    /// Resolves once the connection must go.
    pub(crate) async fn ended(&self) -> Ended {
        poll_fn(|cx| self.poll_ended(cx)).await
    }

    /// Tells the connection task to go; the first reason given stays. What was queued is
    /// dropped: it will not be sent.
    pub(crate) fn end(&self, end: Ended) {
        let waker = {
            let mut state = self.lock();
            state.end.get_or_insert(end);
            state.queue = VecDeque::new();
            self.budget.give_back(std::mem::take(&mut state.n_bytes));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned queue is still a valid queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pop(&self, state: &mut State) -> Option<Message> {
        let message = state.queue.pop_front()?;
        state.progress = Instant::now();
        let cost = cost(&message);
        state.n_bytes -= cost;
        self.budget.give_back(cost);
        // An emptied queue frees its buffer: most connections wait far longer than they
        // send, and one message left a buffer of four behind.
        if state.queue.is_empty() && state.queue.capacity() > 0 {
            state.queue = VecDeque::new();
        }
        Some(message)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let n_bytes = self.lock().n_bytes;
        self.budget.give_back(n_bytes);
    }
}

/// What `message` costs a queue.
fn cost(message: &Message) -> usize {
    message.payload_len() + MESSAGE_OVERHEAD
}

fn register(state: &mut State, cx: &mut Context<'_>) {
    match &mut state.waker {
        Some(waker) => waker.clone_from(cx.waker()),
        None => state.waker = Some(cx.waker().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(max_messages: usize) -> Inbox {
        Inbox::new(Arc::new(QueueBudget::new(
            max_messages,
            usize::MAX,
            usize::MAX,
            Duration::from_secs(30),
        )))
    }

    #[test]
    fn the_queue_is_bounded_and_in_order() {
        let inbox = inbox(3);
        for n in 0..3 {
            assert_eq!(
                inbox.try_push(Message::binary(vec![n]), Class::Notice),
                Ok(())
            );
        }
        assert_eq!(
            inbox.try_push(Message::binary(vec![3]), Class::Notice),
            Err(Refused::Full)
        );
        let drained: Vec<_> = std::iter::from_fn(|| inbox.try_pop()).collect();
        assert_eq!(
            drained,
            (0..3).map(|n| Message::binary(vec![n])).collect::<Vec<_>>()
        );
        assert_eq!(
            inbox.try_push(Message::binary(vec![4]), Class::Notice),
            Ok(())
        );
    }

    #[test]
    fn an_emptied_queue_gives_its_buffer_back() {
        let inbox = inbox(1024);
        assert_eq!(inbox.lock().queue.capacity(), 0);
        for n in 0..100 {
            inbox
                .try_push(Message::binary(vec![n]), Class::Notice)
                .unwrap();
        }
        while inbox.try_pop().is_some() {}
        assert_eq!(inbox.lock().queue.capacity(), 0);
    }

    #[test]
    fn queues_are_bounded_in_bytes_each_and_together_and_an_end_frees_them() {
        let per_message = 1_000 + MESSAGE_OVERHEAD;
        let budget = Arc::new(QueueBudget::new(
            100,
            3 * per_message,
            5 * per_message,
            Duration::from_secs(30),
        ));
        let (a, b) = (
            Inbox::new(Arc::clone(&budget)),
            Inbox::new(Arc::clone(&budget)),
        );
        let message = || Message::binary(vec![0; 1_000]);
        for _ in 0..3 {
            assert_eq!(a.try_push(message(), Class::Notice), Ok(()));
        }
        assert_eq!(a.try_push(message(), Class::Notice), Err(Refused::Full));
        assert_eq!(a.queued_bytes(), 3 * per_message);
        assert_eq!(b.try_push(message(), Class::Notice), Ok(()));
        assert_eq!(b.try_push(message(), Class::Notice), Ok(()));
        assert_eq!(
            b.try_push(message(), Class::Notice),
            Err(Refused::OverBudget)
        );
        assert_eq!((budget.total(), budget.n_over()), (5 * per_message, 1));
        // Reading gives bytes back; so does an end, which drops the queue.
        assert!(b.try_pop().is_some());
        assert_eq!(budget.total(), 4 * per_message);
        a.end(Ended::Kicked);
        assert_eq!((a.queued_bytes(), budget.total()), (0, per_message));
        assert_eq!(a.try_pop(), None);
        // An ended queue takes nothing more, quietly.
        assert_eq!(a.try_push(message(), Class::Notice), Ok(()));
        assert_eq!(a.queued_bytes(), 0);
        drop(b);
        assert_eq!(budget.total(), 0);
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_push() {
        let inbox = std::sync::Arc::new(inbox(4));
        let pusher = std::sync::Arc::clone(&inbox);
        let task = tokio::spawn(async move { poll_fn(|cx| inbox.poll_next(cx)).await });
        tokio::task::yield_now().await;
        pusher
            .try_push(Message::binary(vec![9]), Class::Notice)
            .unwrap();
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received, Next::Message(Message::binary(vec![9])));
    }

    #[tokio::test]
    async fn an_end_before_waiting_is_kept_and_comes_before_messages() {
        let inbox = inbox(4);
        inbox
            .try_push(Message::binary(vec![1]), Class::Notice)
            .unwrap();
        inbox.end(Ended::Kicked);
        inbox.end(Ended::Stopping);
        let next = poll_fn(|cx| inbox.poll_next(cx));
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), next);
        assert_eq!(next.await.unwrap(), Next::Ended(Ended::Kicked));
        assert_eq!(inbox.ended().await, Ended::Kicked);
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_an_end() {
        let inbox = std::sync::Arc::new(inbox(4));
        let ender = std::sync::Arc::clone(&inbox);
        let task = tokio::spawn(async move { inbox.ended().await });
        tokio::task::yield_now().await;
        ender.end(Ended::Stopping);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended, Ended::Stopping);
    }
}
