//! One connection's outbound queue (what other connections send it), and why the
//! connection must end (its queue overflowed, or the server is stopping).
//!
//! Bounded like a channel, but it holds memory only while it holds messages: an idle
//! connection's queue is an empty `VecDeque` (no allocation), where a tokio bounded channel
//! allocates its first block of 32 slots and a cache-padded header up front (about 2 KiB).
//! A queue that empties gives its buffer back. The connection task waits on it through a
//! poll that stores the task's waker, rather than a `Notify` future per wait.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::socket::Message;

/// The queue; shared by the hub (pushing, under its lock) and the connection task.
///
/// The task waits through [`Inbox::poll_next`], which keeps only its waker here: no
/// `Notify` and no future per wait, so an idle connection's task stays small.
pub(crate) struct Inbox {
    state: Mutex<State>,
    capacity: usize,
}

struct State {
    queue: VecDeque<Message>,
    /// The connection task, if it waits.
    waker: Option<Waker>,
    /// Set once the connection must go.
    end: Option<Ended>,
}

/// Why a connection must go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The server is stopping.
    Stopping,
    /// Its queue overflowed.
    Kicked,
}

/// What [`Inbox::poll_next`] gives.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Message(Message),
    Ended(Ended),
}

/// The queue holds `capacity` messages already; the message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl Inbox {
    /// An empty queue for at most `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                waker: None,
                end: None,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Queues `message` unless the queue is full.
    pub(crate) fn try_push(&self, message: Message) -> Result<(), Full> {
        let waker = {
            let mut state = self.lock();
            if state.queue.len() >= self.capacity {
                return Err(Full);
            }
            state.queue.push_back(message);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// The oldest queued message, if any.
    #[cfg(test)]
    pub(crate) fn try_pop(&self) -> Option<Message> {
        pop(&mut self.lock())
    }

    /// The end, if the connection must go; else the oldest queued message; else `Pending`,
    /// and the task is woken by the next push or end. Cancel-safe: a message is taken
    /// only when this returns it.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut state = self.lock();
        if let Some(end) = state.end {
            return Poll::Ready(Next::Ended(end));
        }
        if let Some(message) = pop(&mut state) {
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

    /// Tells the connection task to go; the first reason given stays.
    pub(crate) fn end(&self, end: Ended) {
        let waker = {
            let mut state = self.lock();
            state.end.get_or_insert(end);
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
}

fn pop(state: &mut State) -> Option<Message> {
    let message = state.queue.pop_front();
    // An emptied queue frees its buffer: most connections wait far longer than they
    // send, and one message left a buffer of four behind.
    if state.queue.is_empty() && state.queue.capacity() > 0 {
        state.queue = VecDeque::new();
    }
    message
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

    #[test]
    fn the_queue_is_bounded_and_in_order() {
        let inbox = Inbox::new(3);
        for n in 0..3 {
            assert_eq!(inbox.try_push(Message::binary(vec![n])), Ok(()));
        }
        assert_eq!(inbox.try_push(Message::binary(vec![3])), Err(Full));
        let drained: Vec<_> = std::iter::from_fn(|| inbox.try_pop()).collect();
        assert_eq!(
            drained,
            (0..3).map(|n| Message::binary(vec![n])).collect::<Vec<_>>()
        );
        assert_eq!(inbox.try_push(Message::binary(vec![4])), Ok(()));
    }

    #[test]
    fn an_emptied_queue_gives_its_buffer_back() {
        let inbox = Inbox::new(1024);
        assert_eq!(inbox.lock().queue.capacity(), 0);
        for n in 0..100 {
            inbox.try_push(Message::binary(vec![n])).unwrap();
        }
        while inbox.try_pop().is_some() {}
        assert_eq!(inbox.lock().queue.capacity(), 0);
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_push() {
        let inbox = std::sync::Arc::new(Inbox::new(4));
        let pusher = std::sync::Arc::clone(&inbox);
        let task = tokio::spawn(async move { poll_fn(|cx| inbox.poll_next(cx)).await });
        tokio::task::yield_now().await;
        pusher.try_push(Message::binary(vec![9])).unwrap();
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received, Next::Message(Message::binary(vec![9])));
    }

    #[tokio::test]
    async fn an_end_before_waiting_is_kept_and_comes_before_messages() {
        let inbox = Inbox::new(4);
        inbox.try_push(Message::binary(vec![1])).unwrap();
        inbox.end(Ended::Kicked);
        inbox.end(Ended::Stopping);
        let next = poll_fn(|cx| inbox.poll_next(cx));
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), next);
        assert_eq!(next.await.unwrap(), Next::Ended(Ended::Kicked));
        assert_eq!(inbox.ended().await, Ended::Kicked);
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_an_end() {
        let inbox = std::sync::Arc::new(Inbox::new(4));
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
